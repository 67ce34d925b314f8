using System.Text.Json.Serialization;
using OtSensor.Capture.Live;
using OtSensor.Inventory;

namespace OtSensor.Cli.Commands;

/// <summary>
/// Compile-time JSON metadata for what the commands print or read themselves (no reflection). Snake-case names,
/// indented, the default encoder: the same text as the reflection serialiser with the options these commands used.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(List<InventoryChange>))]
[JsonSerializable(typeof(IReadOnlyList<CaptureInterface>))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
