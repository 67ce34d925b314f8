namespace OtSensor.Protocols.Mqtt;

/// <summary>
/// Enumerates the topic filters of a SUBSCRIBE/UNSUBSCRIBE event blob (the <c>filter</c> of each object in the
/// top-level <c>topics</c> array), without allocating: <c>foreach (var f in MqttTopicFilters.Of(blob))</c>.
/// </summary>
public ref struct MqttTopicFilters
{
    private EventFieldReader _reader;
    private int _depth;
    private bool _inTopics;

    private MqttTopicFilters(ReadOnlySpan<byte> blob)
    {
        _reader = new EventFieldReader(blob);
        _depth = 0;
        _inTopics = false;
        Current = default;
    }

    public static MqttTopicFilters Of(ReadOnlySpan<byte> blob) => new(blob);

    public readonly MqttTopicFilters GetEnumerator() => this;

    public ReadOnlySpan<byte> Current { get; private set; }

    public bool MoveNext()
    {
        while (_reader.Read())
        {
            if (_reader.Kind is EventFieldKind.BeginArray or EventFieldKind.BeginObject)
            {
                if (_depth == 0 && _reader.Field == MqttFields.Topics) _inTopics = true;
                _depth++;
            }
            else if (_reader.Kind is EventFieldKind.EndArray or EventFieldKind.EndObject)
            {
                _depth--;
                if (_depth == 0 && _inTopics) return false;
            }
            else if (_inTopics && _depth == 2 && _reader.Field == MqttFields.Filter && _reader.Kind == EventFieldKind.String)
            {
                Current = _reader.Value;
                return true;
            }
        }
        return false;
    }
}
