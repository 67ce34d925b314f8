using OtSensor.Protocols.Coap;
using static OtSensor.Tests.Protocols.Coap.CoapTestData;

namespace OtSensor.Tests.Protocols.Coap;

public class CoapProbeTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Theory]
    [InlineData("4201aa0162dab474657374c102")] // ttproto CORE_01 request
    [InlineData("6245aa0162dac0211e9102ff547970653a20302028434f4e290a")] // its response
    [InlineData("60006466")] // empty ACK
    [InlineData("400091c5")] // ping
    [InlineData("700091c5")] // RST
    [InlineData("42010b4b865c60536f6273")] // observe GET
    [InlineData("5001 0001 bb2e77656c6c2d6b6e6f776e 04636f7265")] // NON GET /.well-known/core
    [InlineData("44013fdf81972a653831302e312e322e3389636f61703268747470dd0b09687474703a2f2f31302e312e312e333a383030302f30")] // californium proxy GET
    public void RealMessages_LookLikeCoap(string hex) => Assert.True(CoapProbe.LooksLikeCoap(Hex(hex)));

    [Theory]
    // DNS query for example.com (id 0x1234, RD): flags byte would be the code.
    [InlineData("123401000001000000000000076578616d706c6503636f6d0000010001")]
    [InlineData("5a5a0100000100000000000003777777076578616d706c6503636f6d0000010001")]
    [InlineData("4b2b8180000100010000000007657861")] // DNS response
    // NTP client request (LI 0, VN 3, mode 3) and server response, LI=1 VN=3 mode 3.
    [InlineData("1b0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("240106e8000000000000000047505300")]
    [InlineData("5b0000000000000000000000000000000000000000000000")]
    // SNMP v2c get-request.
    [InlineData("302602010104067075626c6963a01902040a1b2c3d020100020100300b300906052b060102010500")]
    [InlineData("")]
    [InlineData("40")]
    [InlineData("4000000100")] // empty with trailing byte
    [InlineData("50000001")] // empty NON
    [InlineData("4201aa01")] // truncated token
    [InlineData("4001aa01ff")] // marker without payload
    [InlineData("402005d1")] // class 1
    [InlineData("40e105d1")] // class 7
    [InlineData("6001aa01")] // request in ACK
    [InlineData("4001aa0101")] // option 0
    public void NonCoapOrBroken_DoesNotLookLikeCoap(string hex) => Assert.False(CoapProbe.LooksLikeCoap(Hex(hex)));

    [Theory]
    [InlineData(20, 100, 5)]
    [InlineData(8, 48, 30)]
    public void RandomDatagrams_RarelyLookLikeCoap(int minLength, int maxLength, int maxHitsPer100k)
    {
        // A header and token that end exactly at the datagram's end are a valid CoAP message (e.g. NON 4.04): short
        // random datagrams hit that now and then; longer ones must also parse as known options to the end.
        var rng = new Random(11);
        int hits = 0;
        var buf = new byte[maxLength];
        for (int i = 0; i < 100_000; i++)
        {
            rng.NextBytes(buf);
            var span = buf.AsSpan(0, minLength + rng.Next(maxLength - minLength));
            if (CoapProbe.LooksLikeCoap(span))
            {
                hits++;
                output.WriteLine(Convert.ToHexString(span));
            }
        }

        Assert.True(hits < maxHitsPer100k, $"{hits} random datagrams looked like CoAP");
    }
}
