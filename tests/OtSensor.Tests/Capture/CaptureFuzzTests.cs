using OtSensor.Capture;
using static OtSensor.Tests.Capture.CaptureImages;

namespace OtSensor.Tests.Capture;

public class CaptureFuzzTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RandomlyMutatedCaptures_NeverThrowAndAlwaysTerminate(bool pcapng)
    {
        byte[] seed = pcapng
            ? new PcapNgImage().Section().Interface(1, 100, tsresol: 0x80 | 10).Epb(0, 1, Frame(40, 1)).Block(4, new byte[8])
                .Spb(30, Frame(30, 2)).Opb(0, 2, Frame(20, 3)).Section(true).Interface(101).Epb(0, 3, Frame(50, 4)).ToArray()
            : new PcapImage(bigEndian: true).Record(1, 2, Frame(40, 1)).Record(3, 4, Frame(50, 2)).Record(5, 6, Frame(7, 3)).ToArray();
        var rng = new Random(12345);
        for (int iter = 0; iter < 3000; iter++)
        {
            byte[] img = (byte[])seed.Clone();
            int flips = 1 + rng.Next(4);
            for (int f = 0; f < flips; f++)
                img[4 + rng.Next(img.Length - 4)] = (byte)rng.Next(256);
            if (rng.Next(4) == 0)
                img = img[..(4 + rng.Next(img.Length - 4))];
            using var r = new CaptureFileReader(new MemoryStream(img), "fuzz");
            int n = 0;
            while (r.TryReadPacket(out var p))
            {
                Assert.True(p.Data.Length <= img.Length);
                Assert.True(++n <= 10);
            }
            Assert.False(r.TryReadPacket(out _));
        }
    }
}
