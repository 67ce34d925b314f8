using OtSensor.Protocols.Coap;
using static OtSensor.Tests.Protocols.Coap.CoapTestData;

namespace OtSensor.Tests.Protocols.Coap;

public class CoapValidationTests
{
    private static ulong Check(byte[] msg, out CoapSummary s)
    {
        Assert.NotEqual(CoapReadStatus.Invalid, CoapReader.TryRead(msg, out var m, out _));
        return CoapValidation.Check(m, out s);
    }

    private static ulong CheckOption(int number, byte[] value) => Check(Msg(Con, Get, 1, null, [(number, value)]), out _);

    public static TheoryData<int, int, int> KnownOptionLengths()
    {
        var d = new TheoryData<int, int, int>();
        foreach (var o in CoapOptionTable.All) d.Add(o.Number, o.MinLength, o.MaxLength);
        return d;
    }

    [Theory]
    [MemberData(nameof(KnownOptionLengths))]
    public void KnownOption_LengthWithinItsDefinition_IsClean_AndOutsideIsInvalid(int number, int min, int max)
    {
        var info = CoapOptionTable.Info(number);
        byte fill = info.Format == CoapOptionFormat.String ? (byte)'a' : (byte)1;
        Assert.Equal(0UL, CheckOption(number, Enumerable.Repeat(fill, min).ToArray()) & CoapAnomalies.Bit(CoapAnomaly.InvalidOption));
        Assert.Equal(0UL, CheckOption(number, Enumerable.Repeat(fill, max).ToArray()) & CoapAnomalies.Bit(CoapAnomaly.InvalidOption));
        Assert.True(CoapAnomalies.Has(CheckOption(number, Enumerable.Repeat(fill, max + 1).ToArray()), CoapAnomaly.InvalidOption));
        if (min > 0)
        {
            Assert.True(CoapAnomalies.Has(CheckOption(number, []), CoapAnomaly.InvalidOption));
        }
    }

    [Fact]
    public void StringOption_WithInvalidUtf8_IsInvalidOption()
        => Assert.True(CoapAnomalies.Has(CheckOption(CoapOptionNumber.UriPath, [0xC3, 0x28]), CoapAnomaly.InvalidOption));

    [Fact]
    public void Summary_CarriesObserveBlocksFormatsAndResourceHash()
    {
        var a = Msg(Con, Get, 1, [9], [(CoapOptionNumber.Observe, []), Path("sensors"), Path("t"), (CoapOptionNumber.Accept, Uint(40)), (CoapOptionNumber.Block2, Uint(BlockValue(2, false, 6)))]);
        Assert.Equal(0UL, Check(a, out var s));
        Assert.True(s.HasObserve);
        Assert.Equal(0u, s.Observe);
        Assert.Equal(40, s.Accept);
        Assert.Equal(-1, s.ContentFormat);
        Assert.True(s.HasBlock2);
        Assert.Equal(2u, s.Block2.Number);
        Assert.Equal(1024, s.Block2.Size);
        Check(Msg(Con, Get, 2, [9], [Path("sensors"), Path("t")]), out var same);
        Check(Msg(Con, Get, 2, [9], [Path("sensors"), Path("h")]), out var other);
        Assert.Equal(s.ResourceHash, same.ResourceHash);
        Assert.NotEqual(s.ResourceHash, other.ResourceHash);
    }

    [Fact]
    public void UnknownCriticalOption_IsFlagged_UnknownElectiveIsNot()
    {
        Assert.True(CoapAnomalies.Has(CheckOption(2049, [1]), CoapAnomaly.UnknownCriticalOption));
        Assert.Equal(0UL, CheckOption(2048, [1]));
        Check(Msg(Con, Get, 1, null, [(2048, [1])]), out var s);
        Assert.Equal(1, s.UnknownOptions);
    }

    [Fact]
    public void RepeatedNonRepeatableOption_IsFlagged_RepeatableIsNot()
    {
        Assert.True(CoapAnomalies.Has(Check(Msg(Con, Get, 1, null, [(CoapOptionNumber.ContentFormat, [0]), (CoapOptionNumber.ContentFormat, [40])]), out _), CoapAnomaly.RepeatedOption));
        Assert.Equal(0UL, Check(Msg(Con, Get, 1, null, [Path("a"), Path("b")]), out _));
    }

    [Theory]
    [InlineData(CoapOptionNumber.Block1)]
    [InlineData(CoapOptionNumber.Block2)]
    [InlineData(CoapOptionNumber.QBlock1)]
    [InlineData(CoapOptionNumber.QBlock2)]
    public void BlockWithSzx7_IsInvalidBlockSize(int number)
        => Assert.True(CoapAnomalies.Has(CheckOption(number, Uint(BlockValue(1, true, 7))), CoapAnomaly.InvalidBlockSize));

    [Theory]
    [InlineData("40000001")]
    [InlineData("60000001")]
    [InlineData("70000001")]
    public void EmptyMessage_WithNothing_IsClean(string hex) => Assert.Equal(0UL, Check(Hex(hex), out _));

    [Theory]
    [InlineData("61000001 aa")] // token
    [InlineData("60000001 b161")] // option
    [InlineData("60000001 ff01")] // payload
    [InlineData("50000001")] // NON
    public void EmptyMessage_WithTokenOptionsPayload_OrNon_IsMalformed(string hex)
    {
        ulong bits = Check(Hex(hex), out _);
        Assert.True(CoapAnomalies.Has(bits, CoapAnomaly.InvalidEmptyMessage));
        Assert.True(CoapAnomalies.Has(bits, CoapAnomaly.Malformed));
    }

    [Theory]
    [InlineData(0x08)]
    [InlineData(0x21)]
    [InlineData(0xC1)]
    [InlineData(0xE2)]
    [InlineData(0x4A)]
    public void ReservedClassOrUnassignedCode_IsReservedCode(byte code)
        => Assert.True(CoapAnomalies.Has(Check(Msg(Non, code, 1), out _), CoapAnomaly.ReservedCode));

    [Theory]
    [InlineData(Ack, Get)]
    [InlineData(Rst, Get)]
    [InlineData(Rst, Content)]
    public void RequestInAckOrRst_OrNonEmptyRst_IsInvalidMessageType(byte type, byte code)
        => Assert.True(CoapAnomalies.Has(Check(Msg(type, code, 1), out _), CoapAnomaly.InvalidMessageType));

    [Fact]
    public void Catalog_HasStableIdsAndSignatures()
    {
        Assert.Equal("coap_malformed", CoapAnomalies.Info(CoapAnomaly.Malformed).Id);
        Assert.Equal("coap_unsolicited_response", CoapAnomalies.Info(CoapAnomaly.UnsolicitedResponse).Id);
        Assert.Equal("coap_invalid_version", CoapAnomalies.Info(CoapAnomaly.InvalidVersion).Id);
        Assert.Equal("coap_invalid_token_length", CoapAnomalies.Info(CoapAnomaly.InvalidTokenLength).Id);
        Assert.Equal("coap_reserved_code", CoapAnomalies.Info(CoapAnomaly.ReservedCode).Id);
        Assert.Equal("coap_invalid_option", CoapAnomalies.Info(CoapAnomaly.InvalidOption).Id);
        Assert.Equal("coap_payload_marker_without_payload", CoapAnomalies.Info(CoapAnomaly.PayloadMarkerWithoutPayload).Id);
        Assert.Equal("coap_unknown_critical_option", CoapAnomalies.Info(CoapAnomaly.UnknownCriticalOption).Id);
        Assert.Equal("coap_invalid_block_size", CoapAnomalies.Info(CoapAnomaly.InvalidBlockSize).Id);
        Assert.Equal("coap_block_transfer_too_large", CoapAnomalies.Info(CoapAnomaly.BlockTransferTooLarge).Id);
        Assert.Equal("coap_rst_unsolicited", CoapAnomalies.Info(CoapAnomaly.RstUnsolicited).Id);
        foreach (var a in CoapAnomalies.All)
        {
            var info = CoapAnomalies.Info(a);
            Assert.Equal(3000 + (int)a, info.SignatureId);
            Assert.StartsWith("coap_", info.Id, StringComparison.Ordinal);
            Assert.InRange((int)a, 1, 63);
            Assert.InRange(info.Severity, 0, 10);
        }

        Assert.Equal(CoapAnomalies.All.Count, CoapAnomalies.All.Select(a => CoapAnomalies.Info(a).Id).Distinct().Count());
        Assert.Equal("coap_unknown_anomaly", CoapAnomalies.Info((CoapAnomaly)60).Id);
    }

    [Fact]
    public void FieldNames_AreTheDocumentedJsonNames()
    {
        Assert.Equal("type", CoapFields.Name(CoapFields.Type));
        Assert.Equal("method", CoapFields.Name(CoapFields.Method));
        Assert.Equal("code", CoapFields.Name(CoapFields.Code));
        Assert.Equal("mid", CoapFields.Name(CoapFields.Mid));
        Assert.Equal("token", CoapFields.Name(CoapFields.Token));
        Assert.Equal("uri_path", CoapFields.Name(CoapFields.UriPath));
        Assert.Equal("uri_query", CoapFields.Name(CoapFields.UriQuery));
        Assert.Equal("block2", CoapFields.Name(CoapFields.Block2));
        Assert.Equal("payload_len", CoapFields.Name(CoapFields.PayloadLen));
        Assert.Equal("resources", CoapFields.Name(CoapFields.Resources));
        Assert.Equal("transfer", CoapFields.Name(CoapFields.Transfer));
        Assert.Equal("separate_response", CoapFields.Name(CoapFields.SeparateResponse));
        Assert.Equal("field_255", CoapFields.Name(255));
    }
}
