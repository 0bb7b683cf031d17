"""B3's baseline: a trivial grpc.aio server on the same machine. It answers the
PlanService calls B3 drives with responses captured from the real server (the same
bytes on the wire, parsed once at start), doing nothing else per call.

    LIENTHONG_GRPC_ADDRESS=127.0.0.1:50061 python -m bench.trivial_server DIR
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2_grpc
from lienthong.v1 import plan_service_pb2 as pb
from lienthong.v1 import plan_service_pb2_grpc


class TrivialPlans(plan_service_pb2_grpc.PlanServiceServicer):
    def __init__(self, folder: Path) -> None:
        self.status = pb.GetPlanStatusResponse.FromString(
            (folder / "GetPlanStatus.bin").read_bytes()
        )
        self.tasks = pb.ListTasksResponse.FromString((folder / "ListTasks.bin").read_bytes())

    async def GetPlanStatus(  # noqa: N802
        self,
        request: pb.GetPlanStatusRequest,  # noqa: ARG002
        context: grpc.aio.ServicerContext,  # noqa: ARG002
    ) -> pb.GetPlanStatusResponse:
        return self.status

    async def ListTasks(  # noqa: N802
        self,
        request: pb.ListTasksRequest,  # noqa: ARG002
        context: grpc.aio.ServicerContext,  # noqa: ARG002
    ) -> pb.ListTasksResponse:
        return self.tasks


async def main(folder: Path) -> None:
    server = grpc.aio.server()
    plans = TrivialPlans(folder)  # type: ignore[abstract]  # only the calls B3 makes
    plan_service_pb2_grpc.add_PlanServiceServicer_to_server(plans, server)
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    server.add_insecure_port(os.environ.get("LIENTHONG_GRPC_ADDRESS", "127.0.0.1:50061"))
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
