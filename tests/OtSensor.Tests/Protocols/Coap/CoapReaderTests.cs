using OtSensor.Protocols.Coap;
using static OtSensor.Tests.Protocols.Coap.CoapTestData;

namespace OtSensor.Tests.Protocols.Coap;

public class CoapReaderTests
{
    // ttproto TD_COAP_CORE_01_PASS.pcap: CON GET /test (Block2 0/64), token 62da; ACK 2.05 piggybacked (tshark udp.payload).
    private static readonly byte[] CaptureGet = Hex("4201aa0162dab474657374c102");
    private static readonly byte[] CaptureGetResponse = Hex("6245aa0162dac0211e9102ff547970653a20302028434f4e290a436f64653a20312028474554290a4d49443a2034333532310a546f6b656e3a2036326461");

    [Fact]
    public void Header_DecodesEveryField()
    {
        Assert.Equal(CoapAnomaly.None, CoapReader.TryReadHeader(Hex("68 45 1234 0102030405060708"), out var h));
        Assert.Equal(1, h.Version);
        Assert.Equal(CoapMessageType.Acknowledgement, h.Type);
        Assert.Equal(8, h.TokenLength);
        Assert.Equal(0x45, h.Code);
        Assert.Equal(2, h.CodeClass);
        Assert.Equal(5, h.CodeDetail);
        Assert.Equal(0x1234, h.MessageId);
        Assert.True(h.IsResponse);
        Assert.False(h.IsRequest);
    }

    [Theory]
    [InlineData(0x40, CoapMessageType.Confirmable)]
    [InlineData(0x50, CoapMessageType.NonConfirmable)]
    [InlineData(0x60, CoapMessageType.Acknowledgement)]
    [InlineData(0x70, CoapMessageType.Reset)]
    public void Header_DecodesEachType(byte first, CoapMessageType type)
    {
        Assert.Equal(CoapAnomaly.None, CoapReader.TryReadHeader([first, 0, 0, 1], out var h));
        Assert.Equal(type, h.Type);
        Assert.True(h.IsEmpty);
    }

    [Theory]
    [InlineData(0x00)]
    [InlineData(0x80)]
    [InlineData(0xC0)]
    public void Header_RejectsVersionOtherThanOne(byte first)
    {
        Assert.Equal(CoapAnomaly.InvalidVersion, CoapReader.TryReadHeader([first, 1, 0, 1], out var h));
        Assert.Equal(first >> 6, h.Version);
        Assert.Equal(CoapReadStatus.Invalid, CoapReader.TryRead([first, 1, 0, 1], out _, out var e));
        Assert.Equal(CoapAnomaly.InvalidVersion, e);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public void Token_LengthsZeroToEight_AreRead(int length)
    {
        var token = Enumerable.Range(0xA0, length).Select(i => (byte)i).ToArray();
        var msg = Msg(Con, Get, 7, token);
        Assert.Equal(CoapReadStatus.Ok, CoapReader.TryRead(msg, out var m, out _));
        Assert.Equal(token, m.Token.ToArray());
        Assert.Equal(length, m.Header.TokenLength);
    }

    [Theory]
    [InlineData(9)]
    [InlineData(12)]
    [InlineData(15)]
    public void Token_LengthsNineToFifteen_AreInvalid(int length)
    {
        var msg = new byte[4 + 16];
        msg[0] = (byte)(0x40 | length);
        msg[1] = Get;
        Assert.Equal(CoapReadStatus.Invalid, CoapReader.TryRead(msg, out _, out var e));
        Assert.Equal(CoapAnomaly.InvalidTokenLength, e);
    }

    [Fact]
    public void Token_LongerThanDatagram_IsTruncatedMessage()
    {
        Assert.Equal(CoapReadStatus.Invalid, CoapReader.TryRead(Hex("4401 0001 aabb"), out _, out var e));
        Assert.Equal(CoapAnomaly.TruncatedMessage, e);
    }

    [Fact]
    public void Datagram_ShorterThanFourBytes_IsTruncatedMessage()
    {
        for (int n = 0; n < 4; n++)
        {
            Assert.Equal(CoapReadStatus.Invalid, CoapReader.TryRead(CaptureGet.AsSpan(0, n), out _, out var e));
            Assert.Equal(CoapAnomaly.TruncatedMessage, e);
        }
    }

    [Fact]
    public void CaptureGet_ReadsUriPathOption()
    {
        Assert.Equal(CoapReadStatus.Ok, CoapReader.TryRead(CaptureGet, out var m, out _));
        Assert.Equal(CoapMessageType.Confirmable, m.Header.Type);
        Assert.Equal(0xaa01, m.Header.MessageId);
        Assert.Equal(Hex("62da"), m.Token.ToArray());
        var r = m.Options;
        Assert.True(r.TryRead(out var o));
        Assert.Equal(CoapOptionNumber.UriPath, o.Number);
        Assert.Equal("test"u8.ToArray(), o.Value.ToArray());
        Assert.True(o.IsCritical);
        Assert.True(o.IsUnsafe);
        Assert.True(r.TryRead(out var block));
        Assert.Equal(CoapOptionNumber.Block2, block.Number);
        Assert.Equal(new CoapBlock(0, false, 2), CoapBlock.Decode(block.Uint));
        Assert.False(r.TryRead(out _));
        Assert.Equal(CoapAnomaly.None, r.Error);
        Assert.False(m.HasPayloadMarker);
        Assert.True(m.Payload.IsEmpty);
    }

    [Fact]
    public void CaptureResponse_ReadsContentFormatMaxAgeAndPayload()
    {
        Assert.Equal(CoapReadStatus.Ok, CoapReader.TryRead(CaptureGetResponse, out var m, out _));
        var r = m.Options;
        Assert.True(r.TryRead(out var cf));
        Assert.Equal(CoapOptionNumber.ContentFormat, cf.Number);
        Assert.Equal(0u, cf.Uint);
        Assert.True(r.TryRead(out var age));
        Assert.Equal(CoapOptionNumber.MaxAge, age.Number);
        Assert.Equal(30u, age.Uint);
        Assert.True(r.TryRead(out var block));
        Assert.Equal(CoapOptionNumber.Block2, block.Number);
        Assert.False(r.TryRead(out _));
        Assert.True(m.HasPayloadMarker);
        Assert.StartsWith("Type: 0 (CON)", System.Text.Encoding.ASCII.GetString(m.Payload), StringComparison.Ordinal);
        Assert.Equal(3, m.OptionCount);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(12)]
    [InlineData(13)]
    [InlineData(100)]
    [InlineData(268)]
    [InlineData(269)]
    [InlineData(1000)]
    [InlineData(65535)]
    public void OptionDeltaEncodings_GiveTheNumber(int number)
    {
        var m = new List<byte> { 0x40, Get, 0, 1 };
        EncodeOption(m, 0, number, [0x41]);
        Assert.Equal(CoapReadStatus.Ok, CoapReader.TryRead(m.ToArray(), out var msg, out _));
        var r = msg.Options;
        Assert.True(r.TryRead(out var o));
        Assert.Equal(number, o.Number);
        Assert.Equal([0x41], o.Value.ToArray());
        byte nibble = (byte)(m[4] >> 4);
        Assert.Equal(number < 13 ? number : number < 269 ? 13 : 14, nibble);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(12)]
    [InlineData(13)]
    [InlineData(268)]
    [InlineData(269)]
    [InlineData(1034)]
    public void OptionLengthEncodings_GiveTheValueLength(int length)
    {
        var value = Enumerable.Repeat((byte)'a', length).ToArray();
        var msg = Msg(Con, Post, 1, null, [(CoapOptionNumber.ProxyUri, value)], [1]);
        Assert.Equal(CoapReadStatus.Ok, CoapReader.TryRead(msg, out var m, out _));
        var r = m.Options;
        Assert.True(r.TryRead(out var o));
        Assert.Equal(CoapOptionNumber.ProxyUri, o.Number);
        Assert.Equal(length, o.Value.Length);
        Assert.Equal([1], m.Payload.ToArray());
    }

    [Theory]
    [InlineData("4001 0001 f1 61", CoapAnomaly.ReservedOptionNibble)] // delta 15 with length 1
    [InlineData("4001 0001 bf", CoapAnomaly.ReservedOptionNibble)] // length 15
    [InlineData("4001 0001 d1", CoapAnomaly.TruncatedOption)] // delta 13 without its byte
    [InlineData("4001 0001 e1 00", CoapAnomaly.TruncatedOption)] // delta 14 with one byte
    [InlineData("4001 0001 1d", CoapAnomaly.TruncatedOption)] // length 13 without its byte
    [InlineData("4001 0001 1e 01", CoapAnomaly.TruncatedOption)] // length 14 with one byte
    [InlineData("4001 0001 b5 6162", CoapAnomaly.TruncatedOption)] // value cut
    [InlineData("4001 0001 ff", CoapAnomaly.PayloadMarkerWithoutPayload)]
    [InlineData("4001 0001 b1 61 ff", CoapAnomaly.PayloadMarkerWithoutPayload)]
    [InlineData("4001 0001 e0 ffff e0 ffff", CoapAnomaly.OptionNumberOverflow)]
    public void FormatErrors_AreReported_AndEarlierOptionsKept(string hex, CoapAnomaly error)
    {
        Assert.Equal(CoapReadStatus.FormatError, CoapReader.TryRead(Hex(hex), out var m, out var e));
        Assert.Equal(error, e);
        Assert.Equal(error, m.FormatError);
        ulong bits = CoapValidation.Check(m, out _);
        Assert.True(CoapAnomalies.Has(bits, CoapAnomaly.Malformed));
        Assert.True(CoapAnomalies.Has(bits, error));
        Assert.True(CoapAnomalies.IsFormatError(error));
    }

    [Fact]
    public void PayloadMarker_WithPayload_SplitsOptionsAndPayload()
    {
        Assert.Equal(CoapReadStatus.Ok, CoapReader.TryRead(Hex("5002 0001 ff 00ff01"), out var m, out _));
        Assert.True(m.HasPayloadMarker);
        Assert.Equal(Hex("00ff01"), m.Payload.ToArray());
        Assert.Equal(0, m.OptionCount);
    }

    [Fact]
    public void EveryPrefixAndEveryByteFlip_NeverThrows()
    {
        var msg = Msg(Con, Get, 9, [1, 2, 3], [(CoapOptionNumber.UriHost, Str("h")), (CoapOptionNumber.Observe, []), Path("a"), (CoapOptionNumber.Block2, Uint(BlockValue(3, true, 2))), (300, new byte[20])], Str("payload"));
        for (int n = 0; n <= msg.Length; n++)
        {
            var status = CoapReader.TryRead(msg.AsSpan(0, n), out var m, out _);
            if (status != CoapReadStatus.Invalid) CoapValidation.Check(m, out _);
            _ = CoapProbe.LooksLikeCoap(msg.AsSpan(0, n));
        }

        var rng = new Random(7);
        for (int i = 0; i < 2000; i++)
        {
            var copy = (byte[])msg.Clone();
            copy[rng.Next(copy.Length)] = (byte)rng.Next(256);
            var status = CoapReader.TryRead(copy, out var m, out _);
            if (status != CoapReadStatus.Invalid) CoapValidation.Check(m, out _);
        }
    }

    [Theory]
    [InlineData(0u, 0u, false, 0, 16)]
    [InlineData(0x0Eu, 0u, true, 6, 1024)]
    [InlineData(0x16u, 1u, false, 6, 1024)]
    [InlineData(0x1Au, 1u, true, 2, 64)]
    [InlineData(0xFFFFFu, 0xFFFFu, true, 7, 0)]
    public void Block_DecodesNumMoreAndSize(uint value, uint num, bool more, int szx, int size)
    {
        var b = CoapBlock.Decode(value);
        Assert.Equal(num, b.Number);
        Assert.Equal(more, b.More);
        Assert.Equal(szx, b.Szx);
        Assert.Equal(size, b.Size);
        Assert.Equal(szx == 7, b.IsReservedSize);
    }

    [Theory]
    [InlineData("", 0u)]
    [InlineData("01", 1u)]
    [InlineData("0102", 0x102u)]
    [InlineData("010203", 0x10203u)]
    [InlineData("01020304", 0x1020304u)]
    [InlineData("0001020304", 0x1020304u)]
    public void Uint_IsBigEndianWithoutLeadingZeros(string hex, uint value)
        => Assert.Equal(value, CoapReader.ReadUint(Hex(hex)));

    [Theory]
    [InlineData(0x01, "0.01", "GET")]
    [InlineData(0x45, "2.05", "Content")]
    [InlineData(0x5F, "2.31", "Continue")]
    [InlineData(0x84, "4.04", "Not Found")]
    [InlineData(0xA0, "5.00", "Internal Server Error")]
    public void Code_FormatsAsClassDotDetail(byte code, string text, string name)
    {
        Assert.Equal(text, CoapReader.CodeString(code));
        Assert.Equal(name, CoapReader.CodeName(code));
        Assert.True(CoapReader.IsAssignedCode(code));
    }

    [Theory]
    [InlineData(0x08)]
    [InlineData(0x20)]
    [InlineData(0x46)]
    [InlineData(0x87)]
    [InlineData(0xA6)]
    [InlineData(0xC0)]
    [InlineData(0xE1)]
    public void Code_ReservedOrUnassigned_IsNotAssigned(byte code) => Assert.False(CoapReader.IsAssignedCode(code));

    [Fact]
    public void OptionTable_FlagsCriticalUnsafeAndNoCacheKey()
    {
        Assert.True(CoapOptionInfo.IsCritical(CoapOptionNumber.UriPath));
        Assert.False(CoapOptionInfo.IsCritical(CoapOptionNumber.ETag));
        Assert.True(CoapOptionInfo.IsUnsafe(CoapOptionNumber.UriHost));
        Assert.False(CoapOptionInfo.IsUnsafe(CoapOptionNumber.ETag));
        Assert.True(CoapOptionInfo.IsNoCacheKey(CoapOptionNumber.Size1));
        Assert.Equal("Request-Tag", CoapOptionTable.Name(292));
        Assert.Equal("Unknown", CoapOptionTable.Name(2));
        Assert.Equal(27, CoapOptionTable.All.Count);
    }
}
