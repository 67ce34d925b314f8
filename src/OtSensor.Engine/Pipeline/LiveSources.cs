using OtSensor.Capture.Live;

namespace OtSensor.Pipeline;

/// <summary>The production opener of live sources: libpcap.</summary>
public static class LiveSources
{
    public static ILivePacketSource Open(LiveCaptureOptions options) => LiveCapture.Open(options);
}
