// TEMPORARY: signatures of parts being written on other branches; deleted when they merge.
#pragma warning disable CA1822, IDE0060
using OtSensor.Core;
using OtSensor.Decoding;
using OtSensor.Flows;

namespace OtSensor.Decoding
{
    public static class PacketDecoder
    {
        public static bool Decode(LinkType linkType, ReadOnlySpan<byte> frame, ref DecodedPacket packet) { packet = default; return false; }
    }
    public enum DefragResult { NotFragment, Held, Completed, Dropped }
    public sealed class DefragOptions { }
    public sealed class DefragStats { public long FragmentsSeen, DatagramsCompleted, TimedOut, Overlaps, DroppedForBounds, Invalid; }
    public sealed class IpDefragmenter
    {
        public IpDefragmenter(DefragOptions? options = null) { }
        public DefragResult Process(in DecodedPacket packet, ReadOnlySpan<byte> frame, long timestampNs) => DefragResult.NotFragment;
        public ReadOnlySpan<byte> CompletedPacket => default;
        public void Expire(long nowNs) { }
        public DefragStats Stats { get; } = new();
    }
}

namespace OtSensor.Protocols.Modbus
{
    public sealed class ModbusOptions { }
    public sealed class ModbusSession : IFlowDissector
    {
        public ModbusSession(IEventSink sink, ModbusOptions options) { }
        public void OnStreamData(FlowContext flow, Direction direction, ReadOnlySpan<byte> data, in PacketMeta meta) { }
        public void OnStreamGap(FlowContext flow, Direction direction, long missingBytes, in PacketMeta meta) { }
        public void OnDatagram(FlowContext flow, Direction direction, ReadOnlySpan<byte> data, in PacketMeta meta) { }
        public void OnTick(FlowContext flow, long nowNs) { }
        public void OnClose(FlowContext flow, FlowCloseReason reason, long nowNs) { }
    }
    public static class ModbusProbe { public static bool LooksLikeModbus(ReadOnlySpan<byte> payload, bool fromClient) => false; }
}
