using System.Text.Json.Serialization;
using OtSensor.Inventory;

namespace OtSensor.Store;

/// <summary>
/// Compile-time JSON metadata for what the store writes on every flush (raw endpoint / MAC / link state, asset and link
/// rows): no reflection warm-up in a short replay and faster writers. The text is the same as the reflection-based
/// serialiser with the same options produces (the store tests compare both).
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(EndpointState))]
[JsonSerializable(typeof(MacState))]
[JsonSerializable(typeof(LinkState))]
[JsonSerializable(typeof(AssetRecord))]
[JsonSerializable(typeof(LinkRecord))]
internal sealed partial class StoreJsonContext : JsonSerializerContext;
