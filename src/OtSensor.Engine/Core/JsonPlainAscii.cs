namespace OtSensor.Core;

/// <summary>
/// The ASCII characters System.Text.Json's encoders leave as they are in a string (tables by character, non-zero:
/// plain), for the emitters that copy plain strings themselves and leave any other string to a writer. The tests
/// check every character below U+0180 against the writer with each encoder.
/// </summary>
internal static class JsonPlainAscii
{
    /// <summary>The default encoder (JavaScriptEncoder.Default): printable ASCII but " &amp; ' + &lt; &gt; \ ` (and DEL).</summary>
    public static ReadOnlySpan<byte> Default =>
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // U+0000..U+000F
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // U+0010..U+001F
        1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1, // U+0020..U+002F: not " & ' +
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, // U+0030..U+003F: not < >
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, // U+0040..U+004F
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, // U+0050..U+005F: not \
        0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, // U+0060..U+006F: not `
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, // U+0070..U+007F: not DEL
    ];

    /// <summary>The relaxed encoder (UnsafeRelaxedJsonEscaping): printable ASCII but " and \ (DEL left to the writer).</summary>
    public static ReadOnlySpan<byte> Relaxed =>
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, // not "
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, // not \
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, // not DEL
    ];

    /// <summary>Copies <paramref name="value"/> as bytes into <paramref name="to"/> when every character is plain in <paramref name="plain"/>; false otherwise.</summary>
    public static bool TryCopy(ReadOnlySpan<char> value, Span<byte> to, ReadOnlySpan<byte> plain)
    {
        to = to[..value.Length];
        for (int i = 0; i < value.Length; i++)
        {
            uint c = value[i];
            if (c >= 0x80 || plain[(int)c] == 0) return false;
            to[i] = (byte)c;
        }
        return true;
    }
}
