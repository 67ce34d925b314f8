using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using OtSensor.Core;
using OtSensor.Decoding;
using OtSensor.Flows;

namespace OtSensor.Tests.Flows;

/// <summary>Everything a dissector was told, in order.</summary>
internal sealed class RecordingDissector : IFlowDissector
{
    public List<string> Events { get; } = [];
    public List<byte> ToServer { get; } = [];
    public List<byte> ToClient { get; } = [];
    public List<(Direction Direction, byte[] Data)> Datagrams { get; } = [];
    public List<FlowCloseReason> Closes { get; } = [];
    public int Ticks { get; private set; }
    /// <summary>Called with each stream span (to check it points into the frame).</summary>
    public Action<ReadOnlySpan<byte>>? OnData { get; set; }
    public Action<FlowContext, string>? Log { get; set; }

    public byte[] Stream(Direction d) => d == Direction.ToServer ? [.. ToServer] : [.. ToClient];

    public void OnStreamData(FlowContext flow, Direction direction, ReadOnlySpan<byte> data, in PacketMeta meta)
    {
        OnData?.Invoke(data);
        (direction == Direction.ToServer ? ToServer : ToClient).AddRange(data.ToArray());
        Add(flow, $"data {direction} {data.Length}");
    }

    public void OnStreamGap(FlowContext flow, Direction direction, long missingBytes, in PacketMeta meta)
        => Add(flow, $"gap {direction} {missingBytes}");

    public void OnDatagram(FlowContext flow, Direction direction, ReadOnlySpan<byte> data, in PacketMeta meta)
    {
        Datagrams.Add((direction, data.ToArray()));
        Add(flow, $"datagram {direction} {data.Length}");
    }

    public void OnTick(FlowContext flow, long nowNs)
    {
        Ticks++;
        Add(flow, $"tick {nowNs}");
    }

    public void OnClose(FlowContext flow, FlowCloseReason reason, long nowNs)
    {
        Closes.Add(reason);
        Add(flow, $"close {reason}");
    }

    private void Add(FlowContext flow, string e)
    {
        Events.Add(e);
        Log?.Invoke(flow, e);
    }
}

/// <summary>A factory answering from a script (default: always Selected), recording every call.</summary>
internal sealed class RecordingFactory : IDissectorFactory
{
    public Queue<DissectorChoice> Script { get; } = new();
    public DissectorChoice Default { get; set; } = DissectorChoice.Selected;
    public List<(long FlowId, Direction Direction, byte[] Payload)> Calls { get; } = [];
    public List<RecordingDissector> Created { get; } = [];
    /// <summary>Shared log of all dissectors: "flowId: event".</summary>
    public List<string> Log { get; } = [];

    public DissectorChoice Select(FlowContext flow, Direction direction, ReadOnlySpan<byte> payload, out IFlowDissector? dissector)
    {
        Calls.Add((flow.FlowId, direction, payload.ToArray()));
        DissectorChoice choice = Script.Count > 0 ? Script.Dequeue() : Default;
        dissector = null;
        if (choice == DissectorChoice.Selected)
        {
            var d = new RecordingDissector { Log = (f, e) => Log.Add($"{f.FlowId}: {e}") };
            Created.Add(d);
            dissector = d;
        }
        return choice;
    }
}

/// <summary>Builds packets by hand (the decoder is not needed) and feeds them to a table.</summary>
internal sealed class FlowHarness
{
    public const int FrameHeader = 14;
    public static readonly IpAddr ClientIp = IpAddr.Parse("10.0.0.1");
    public static readonly IpAddr ServerIp = IpAddr.Parse("10.0.0.2");
    public static readonly MacAddress ClientMac = new(0x0000_1111_1111UL);
    public static readonly MacAddress ServerMac = new(0x0000_2222_2222UL);

    public FlowHarness(FlowTableOptions? options = null)
    {
        Options = options ?? new FlowTableOptions();
        Table = new FlowTable(Options, Factory);
    }

    public FlowTableOptions Options { get; }
    public RecordingFactory Factory { get; } = new();
    public FlowTable Table { get; }
    public long PacketNumber { get; private set; }
    public long Now { get; set; } = 1_000 * PacketTime.NanosPerSecond;
    public byte[] LastFrame { get; private set; } = [];

    public RecordingDissector Dissector => Factory.Created.Single();

    public static DecodedPacket Tcp(IpAddr src, ushort sport, IpAddr dst, ushort dport, uint seq, uint ack, TcpFlags flags, int payloadLength)
    {
        bool fromClient = src == ClientIp;
        return new DecodedPacket
        {
            HasEthernet = true,
            SrcMac = fromClient ? ClientMac : ServerMac,
            DstMac = fromClient ? ServerMac : ClientMac,
            EtherType = 0x0800,
            Network = NetworkLayer.IPv4,
            SrcIp = src,
            DstIp = dst,
            IpProtocol = 6,
            Transport = TransportLayer.Tcp,
            SrcPort = sport,
            DstPort = dport,
            Seq = seq,
            Ack = ack,
            Flags = flags,
            PayloadOffset = FrameHeader,
            PayloadLength = payloadLength,
        };
    }

    public FlowContext? Feed(in DecodedPacket p, byte[] payload)
    {
        var frame = new byte[FrameHeader + payload.Length];
        payload.CopyTo(frame, FrameHeader);
        LastFrame = frame;
        PacketNumber++;
        Now += PacketTime.NanosPerMilli;
        return Table.Process(p, frame, new PacketMeta(Now, PacketNumber));
    }

    /// <summary>A TCP segment between the default client (10.0.0.1:clientPort) and server (10.0.0.2:serverPort).</summary>
    public FlowContext? Seg(bool fromClient, uint seq, uint ack, TcpFlags flags, byte[]? data = null, ushort clientPort = 50000, ushort serverPort = 15000)
    {
        data ??= [];
        DecodedPacket p = fromClient
            ? Tcp(ClientIp, clientPort, ServerIp, serverPort, seq, ack, flags, data.Length)
            : Tcp(ServerIp, serverPort, ClientIp, clientPort, seq, ack, flags, data.Length);
        return Feed(p, data);
    }

    public FlowContext? C(uint seq, byte[] data, uint ack = 0, TcpFlags flags = TcpFlags.Ack | TcpFlags.Psh)
        => Seg(true, seq, ack, ack == 0 ? flags & ~TcpFlags.Ack : flags, data);

    public FlowContext? S(uint seq, byte[] data, uint ack = 0, TcpFlags flags = TcpFlags.Ack | TcpFlags.Psh)
        => Seg(false, seq, ack, ack == 0 ? flags & ~TcpFlags.Ack : flags, data);

    /// <summary>Three-way handshake: client ISN <paramref name="clientIsn"/>, server ISN <paramref name="serverIsn"/>.</summary>
    public FlowContext? Handshake(uint clientIsn, uint serverIsn, ushort clientPort = 50000, ushort serverPort = 15000)
    {
        Seg(true, clientIsn, 0, TcpFlags.Syn, null, clientPort, serverPort);
        Seg(false, serverIsn, clientIsn + 1, TcpFlags.Syn | TcpFlags.Ack, null, clientPort, serverPort);
        return Seg(true, clientIsn + 1, serverIsn + 1, TcpFlags.Ack, null, clientPort, serverPort);
    }

    public FlowContext? Udp(IpAddr src, ushort sport, IpAddr dst, ushort dport, byte[] data)
    {
        var p = new DecodedPacket
        {
            SrcIp = src,
            DstIp = dst,
            Network = NetworkLayer.IPv4,
            IpProtocol = 17,
            Transport = TransportLayer.Udp,
            SrcPort = sport,
            DstPort = dport,
            PayloadOffset = FrameHeader,
            PayloadLength = data.Length,
        };
        return Feed(p, data);
    }

    public static byte[] Bytes(int count, int seed = 0)
    {
        var b = new byte[count];
        for (int i = 0; i < b.Length; i++)
        {
            b[i] = (byte)(i * 7 + seed);
        }
        return b;
    }

    public static byte[] Fill(int count, byte value) => Enumerable.Repeat(value, count).ToArray();

    /// <summary>True when <paramref name="data"/> points into <paramref name="frame"/> (no copy was made).</summary>
    public static bool PointsInto(ReadOnlySpan<byte> data, byte[] frame)
    {
        if (data.IsEmpty || frame.Length == 0)
        {
            return false;
        }
        nint offset = Unsafe.ByteOffset(ref MemoryMarshal.GetArrayDataReference(frame), ref MemoryMarshal.GetReference(data));
        return offset >= 0 && offset + data.Length <= frame.Length;
    }
}
