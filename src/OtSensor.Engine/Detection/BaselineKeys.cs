namespace OtSensor.Detection;

// The baseline's keys hash and compare themselves for KeyTable / KeySet (field by field, no comparer).

public readonly partial record struct PairKey : IKeyHash<PairKey>
{
    public static ulong Hash(in PairKey k) => KeyHash.Add(KeyHash.Of(k.Client), KeyHash.Of(k.Server));
    public static bool Same(in PairKey a, in PairKey b) => a.Client == b.Client && a.Server == b.Server;
}

public readonly partial record struct ServiceKey : IKeyHash<ServiceKey>
{
    public static ulong Hash(in ServiceKey k) =>
        KeyHash.Add(KeyHash.Add(KeyHash.Of(k.Client), KeyHash.Of(k.Server)), (ulong)k.Transport << 32 | (ulong)k.Port << 8 | (byte)k.Protocol);
    public static bool Same(in ServiceKey a, in ServiceKey b) =>
        a.Client == b.Client && a.Server == b.Server && a.Transport == b.Transport && a.Port == b.Port && a.Protocol == b.Protocol;
}

public readonly partial record struct CodeKey : IKeyHash<CodeKey>
{
    public static ulong Hash(in CodeKey k) => KeyHash.Add(KeyHash.Add(KeyHash.Of(k.Client), KeyHash.Of(k.Server)), (ulong)(uint)k.Code << 8 | (byte)k.Protocol);
    public static bool Same(in CodeKey a, in CodeKey b) => a.Client == b.Client && a.Server == b.Server && a.Protocol == b.Protocol && a.Code == b.Code;
}

public readonly partial record struct WriterKey : IKeyHash<WriterKey>
{
    public static ulong Hash(in WriterKey k) => KeyHash.Add(KeyHash.Add(KeyHash.Of(k.Client), KeyHash.Of(k.Server)), k.Unit);
    public static bool Same(in WriterKey a, in WriterKey b) => a.Client == b.Client && a.Server == b.Server && a.Unit == b.Unit;
}

public readonly partial record struct RegisterKey : IKeyHash<RegisterKey>
{
    public static ulong Hash(in RegisterKey k) => KeyHash.Add(KeyHash.Of(k.Server), (ulong)k.Unit << 16 | k.Address);
    public static bool Same(in RegisterKey a, in RegisterKey b) => a.Server == b.Server && a.Unit == b.Unit && a.Address == b.Address;
}

public readonly partial record struct PollKey : IKeyHash<PollKey>
{
    public static ulong Hash(in PollKey k) =>
        KeyHash.Add(KeyHash.Add(KeyHash.Add(KeyHash.Of(k.Client), KeyHash.Of(k.Server)), (ulong)(uint)k.Code << 16 | (ulong)k.Unit << 8 | (byte)k.Protocol), (uint)k.Address);
    public static bool Same(in PollKey a, in PollKey b) =>
        a.Client == b.Client && a.Server == b.Server && a.Protocol == b.Protocol && a.Code == b.Code && a.Unit == b.Unit && a.Address == b.Address;
}
