namespace OtSensor.Protocols.Modbus;

/// <summary>One object of a Read Device Identification response: its id and its value bytes (untrusted, ≤ 251 bytes).</summary>
public readonly ref struct DeviceIdentificationObject
{
    public DeviceIdentificationObject(byte objectId, ReadOnlySpan<byte> value)
    {
        ObjectId = objectId;
        Value = value;
    }

    public byte ObjectId { get; }

    public ReadOnlySpan<byte> Value { get; }
}

/// <summary>
/// A Read Device Identification response (FC 43, MEI 14): header fields and an allocation-free enumeration of its
/// objects. A device answering in several parts sets <see cref="MoreFollows"/>; the consumer asks again from
/// <see cref="NextObjectId"/> and stitches the objects of each part.
/// </summary>
public readonly ref struct ModbusDeviceIdentification
{
    private readonly ReadOnlySpan<byte> _objects;

    private ModbusDeviceIdentification(ReadOnlySpan<byte> objects, byte code, byte conformity, byte moreFollows, byte next, byte count)
    {
        _objects = objects;
        ReadDeviceIdCode = code;
        ConformityLevel = conformity;
        MoreFollowsRaw = moreFollows;
        NextObjectId = next;
        NumberOfObjects = count;
    }

    public byte ReadDeviceIdCode { get; }

    public byte ConformityLevel { get; }

    /// <summary>Raw "more follows" byte (0x00 or 0xFF per the specification).</summary>
    public byte MoreFollowsRaw { get; }

    public bool MoreFollows => MoreFollowsRaw == 0xFF;

    public byte NextObjectId { get; }

    /// <summary>Number of objects announced (the enumeration stops early if the bytes run out).</summary>
    public byte NumberOfObjects { get; }

    /// <summary>
    /// Parses a response PDU (function byte 0x2B, MEI type 0x0E, then the header and objects). False when it is not
    /// a Read Device Identification response or is shorter than its 7-byte header.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> responsePdu, out ModbusDeviceIdentification identification)
    {
        identification = default;
        if (responsePdu.Length < 7 || responsePdu[0] != (byte)ModbusFunction.EncapsulatedInterfaceTransport
            || responsePdu[1] != ModbusFunctions.MeiReadDeviceIdentification)
        {
            return false;
        }

        identification = new ModbusDeviceIdentification(responsePdu[7..], responsePdu[2], responsePdu[3], responsePdu[4], responsePdu[5], responsePdu[6]);
        return true;
    }

    public Enumerator GetEnumerator() => new(_objects, NumberOfObjects);

    /// <summary>Name of a standard object id 0-6 (VendorName...), or null for regular/extended/private ids.</summary>
    public static string? ObjectName(byte objectId) => objectId switch
    {
        0 => "VendorName",
        1 => "ProductCode",
        2 => "MajorMinorRevision",
        3 => "VendorUrl",
        4 => "ProductName",
        5 => "ModelName",
        6 => "UserApplicationName",
        _ => null,
    };

    /// <summary>Walks (id, length, value) triples, bounded by the announced count and by the bytes present.</summary>
    public ref struct Enumerator
    {
        private readonly ReadOnlySpan<byte> _data;
        private readonly int _count;
        private int _pos;
        private int _index;

        internal Enumerator(ReadOnlySpan<byte> data, int count)
        {
            _data = data;
            _count = count;
            _pos = 0;
            _index = 0;
            Current = default;
        }

        public DeviceIdentificationObject Current { get; private set; }

        public bool MoveNext()
        {
            if (_index >= _count || _data.Length - _pos < 2)
            {
                return false;
            }

            byte id = _data[_pos];
            int len = _data[_pos + 1];
            if (_data.Length - _pos - 2 < len)
            {
                return false;
            }

            Current = new DeviceIdentificationObject(id, _data.Slice(_pos + 2, len));
            _pos += 2 + len;
            _index++;
            return true;
        }
    }
}
