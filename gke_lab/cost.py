"""The hourly cost of one lab, from the price table in `gke_lab.prices`.

Offline and pure: the same spec gives the same lines. A line whose price the table does not know keeps its
quantity and says so; the total then covers only the priced lines and `Cost.complete` is False, so no face
shows a partial sum as the whole cost. Monthly prices are divided by `prices.HOURS_PER_MONTH` (730 h).
"""

from __future__ import annotations

from dataclasses import dataclass

from gke_lab import prices
from gke_lab.quotas import nat_addresses, node_count
from gke_lab.spec import LabSpec


@dataclass(frozen=True)
class CostLine:
    """One item of the lab's bill: what, how many, at which price, and its USD per hour (None: unknown)."""

    item: str
    quantity: float
    price: prices.Price
    hourly: float | None
    note: str = ""

    @property
    def source(self) -> str:
        return self.price.source


@dataclass(frozen=True)
class Cost:
    """The lab's hourly cost: its lines and the sum of the priced ones (USD per hour)."""

    lines: tuple[CostLine, ...]
    total: float

    @property
    def unpriced(self) -> tuple[str, ...]:
        return tuple(line.item for line in self.lines if line.hourly is None)

    @property
    def complete(self) -> bool:
        return not self.unpriced

    def summary(self, labs: int = 1) -> str:
        """`$0.1234/h` or, with unknown prices, `at least $0.1234/h (no price for: ...)`; for `labs` labs
        (an idle pool's ready labs) the sum of them all."""
        amount = f"${self.total * labs:.4f}/h" + ("" if labs == 1 else f" for {labs} labs")
        if self.complete:
            return amount
        return f"at least {amount} (no price for: {', '.join(self.unpriced)})"

    def to_dict(self) -> dict[str, object]:
        return {
            "total_usd_per_hour": round(self.total, 6),
            "complete": self.complete,
            "lines": [
                {
                    "item": line.item,
                    "quantity": line.quantity,
                    "unit": line.price.unit,
                    "unit_price_usd": line.price.usd,
                    "usd_per_hour": None if line.hourly is None else round(line.hourly, 6),
                    "source": line.source,
                    "read_on": line.price.read_on,
                    "note": line.note or line.price.note,
                }
                for line in self.lines
            ],
        }


def _line(item: str, quantity: float, price: prices.Price, per_hour: float = 1.0, note: str = "") -> CostLine:
    """`quantity` units at `price`; `per_hour` converts the price's unit to one hour (1/730 for monthly)."""
    hourly = None if price.usd is None else quantity * price.usd * per_hour
    return CostLine(item, quantity, price, hourly, note)


def _nat_gateway(nodes: int) -> CostLine:
    """Public NAT bills each VM that uses the gateway, up to 32 VMs; beyond that a flat hourly price."""
    if nodes > prices.NAT_VM_CAP:
        return _line("Cloud NAT gateway", 1, prices.NAT_GATEWAY_CAP_HOUR, note=f"{nodes} VMs (over the cap)")
    return _line("Cloud NAT gateway", nodes, prices.NAT_PER_VM_HOUR, note=f"{nodes} VMs use the gateway")


def hourly(spec: LabSpec) -> Cost:
    """What one lab costs per hour while it runs with its initial node count."""
    c = spec.cluster
    nodes = node_count(spec)
    monthly = 1 / prices.HOURS_PER_MONTH
    model = "spot/preemptible" if c.preemptible else "on-demand"
    lines = [
        _line("GKE cluster management", 1, prices.CLUSTER_MANAGEMENT),
        _line(
            f"nodes: {c.machine_type} ({model})", nodes, prices.machine_hour(c.machine_type, c.preemptible)
        ),
        _line(
            f"boot disks: {c.disk_type}",
            nodes * c.disk_size_gb,
            prices.DISK_GB_MONTH[c.disk_type],
            monthly,
            note=f"{nodes} x {c.disk_size_gb} GB",
        ),
    ]
    if spec.network.cloud_nat:
        lines.append(_nat_gateway(nodes))
        lines.append(_line("Cloud NAT external IP addresses", nat_addresses(spec), prices.NAT_ADDRESS_HOUR))
        lines.append(
            CostLine(
                "Cloud NAT data processing",
                0,
                prices.NAT_DATA_GIB,
                0.0,
                note="left out: $0.045 per GiB processed depends on the lab's traffic",
            )
        )
    keys = len({spec.kms.node_key, spec.kms.secrets_key})
    lines.append(
        _line(
            "KMS key versions (software)",
            keys,
            prices.KMS_KEY_VERSION_MONTH,
            monthly,
            note="one active version per key; rotated-out versions cost the same until destroyed",
        )
    )
    total = sum(line.hourly for line in lines if line.hourly is not None)
    return Cost(lines=tuple(lines), total=total)
