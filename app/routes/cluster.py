"""Admin API: the processes of the deployment and who holds which instance's session."""

from __future__ import annotations

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from app.cluster.view import cluster_view, read_cluster
from app.routes.admin_docs import TAG_INSTANCES
from app.routes.apidoc import Answer, Doc, Timestamp
from app.routes.common import JSON, services
from app.routes.surface import endpoint
from app.routes.surfaces import ADMIN
from app.routes.views import View


class ClusterProcess(View):
    id: str = Field(description="The process; also the holder named by its instances' leases.")
    role: str = Field(description="api, worker or all ([cluster] role, tgw serve --role).")
    host: str
    pid: int
    address: str | None = Field(description="Its HTTP API ([cluster] advertise_url).")
    max_sessions: int | None = Field(description="Its [cluster] max_sessions; null: no cap.")
    live: bool = Field(
        description="Renewed its registration within the lease time to live; a process that "
        "stopped cleanly is gone from the list, one killed stays (not live) for a day."
    )
    this_process: bool = Field(description="The process that answered.")
    started_at: Timestamp
    heartbeat_at: Timestamp
    instances: list[int] = Field(description="The instances whose session it holds now.")


class ClusterInstance(View):
    number: int
    holder: str | None = Field(description="The process holding its session; null: nobody.")
    holder_registered: bool | None = Field(
        description="False when the holder is no live registered process (a CLI command such "
        "as `tgw login` holding the session for a moment)."
    )
    token: int | None = Field(description="The lease's fencing token; it grows at every holder.")
    lease_expires_at: Timestamp | None


class Cluster(View):
    this_process: str | None = Field(description="The id of the process that answered.")
    live_workers: int = Field(description="Live processes that hold sessions (worker, all).")
    fair_share: int = Field(
        description="The instances each of them holds at most: the instances over the live "
        "workers, rounded up, less where max_sessions caps some."
    )
    unowned: list[int] = Field(description="Instances whose session no process holds now.")
    processes: list[ClusterProcess]
    instances: list[ClusterInstance]


async def get_cluster(request: Request) -> Response:
    svc = services(request)
    async with svc.database.read() as session:
        state = await read_cluster(session)
    return JSON(Cluster.model_validate(cluster_view(state, svc.process_id)))


routes = [
    endpoint(
        ADMIN,
        "/admin/cluster",
        get_cluster,
        doc=Doc(
            "getCluster",
            TAG_INSTANCES,
            "The processes and who holds which instance",
            "Every `tgw serve` process sharing this database (registered at its start, renewed "
            "every few seconds), with its role and the instances whose Telegram session it "
            "holds; each instance with its holder. Each worker process holds at most its fair "
            "share; when one joins or leaves, instances are handed over.",
            {200: Answer("The deployment.", Cluster)},
            errors=(401,),
        ),
    ),
]
