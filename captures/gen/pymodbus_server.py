#!/usr/bin/python3
"""Gateway-like pymodbus (3.0.0rc1) TCP server on 127.0.0.1 with units 1, 2 and 17.

Usage: pymodbus_server.py PORT
Prints "READY" on stdout once listening; stops on SIGTERM.
Used by gen/pymodbus_session.py; loopback only.
"""
import asyncio
import logging
import signal
import sys

from pymodbus.datastore import (
    ModbusSequentialDataBlock,
    ModbusServerContext,
    ModbusSlaveContext,
)
from pymodbus.device import ModbusDeviceIdentification
from pymodbus.server import StartAsyncTcpServer

# Device identity; also imported by the session script to write the manifest.
IDENTITY = {
    "VendorName": "OtSensor Test Devices",
    "ProductCode": "OTS-PLC-100",
    "MajorMinorRevision": "v2.3.1",
    "VendorUrl": "http://devices.example.com/ots-plc-100",
    "ProductName": "OTS Process Controller",
    "ModelName": "OTS-PLC-100-4DI",
    "UserApplicationName": "Pump station 3 control",
}
# Private (extended) objects, returned for read device id code 3.
EXTENDED = {0x80: "Serial SN-0042-7731", 0x81: "Firmware build 2024.11"}
UNITS = (1, 2, 17)
BLOCK_SIZE = 100  # addresses 0..99 valid (pymodbus adds 1 to the wire address)


def make_unit(seed):
    """A slave context with 100 coils, discrete inputs, holding and input registers."""
    return ModbusSlaveContext(
        di=ModbusSequentialDataBlock(0, [(i + seed) % 2 == 0 for i in range(BLOCK_SIZE + 1)]),
        co=ModbusSequentialDataBlock(0, [(i + seed) % 3 == 0 for i in range(BLOCK_SIZE + 1)]),
        hr=ModbusSequentialDataBlock(0, [(seed * 1000 + i) & 0xFFFF for i in range(BLOCK_SIZE + 1)]),
        ir=ModbusSequentialDataBlock(0, [(seed * 2000 + 3 * i) & 0xFFFF for i in range(BLOCK_SIZE + 1)]),
    )


async def main(port):
    context = ModbusServerContext(slaves={u: make_unit(u) for u in UNITS}, single=False)
    identity = ModbusDeviceIdentification(info_name=IDENTITY, info=EXTENDED)
    server = await StartAsyncTcpServer(
        context=context,
        identity=identity,
        address=("127.0.0.1", port),
        defer_start=True,
        allow_reuse_address=True,
    )
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, lambda: stop.done() or stop.set_result(True))
    task = asyncio.create_task(server.serve_forever())
    await server.serving
    print("READY", flush=True)
    await stop
    await server.server_close()
    task.cancel()


if __name__ == "__main__":
    logging.basicConfig(level=logging.CRITICAL)
    asyncio.run(main(int(sys.argv[1])))
