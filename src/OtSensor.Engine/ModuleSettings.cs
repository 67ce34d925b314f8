// Locals and stackalloc buffers are not zeroed on entry to every method of the engine. The hot per-packet and
// per-event methods have large struct locals (transaction fields, event entries, message views) and stack buffers;
// clearing them on every call cost more than the work in many calls that return early (a profile of the detection
// stage showed 1.3 KB cleared per Modbus transaction). C# definite assignment still guarantees that every local is
// written before it is read; the stackalloc buffers in the engine are all read only where they were written (checked
// for each one when this was added: keep it so).
[module: System.Runtime.CompilerServices.SkipLocalsInit]
