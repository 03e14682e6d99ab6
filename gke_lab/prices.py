"""The price table behind `gke-lab plan`'s cost: list prices in USD, each with the page it was read from.

Read on 2026-12-03 from the stored copies of Google's pricing pages named beside each price (US list prices,
on-demand, no discounts). A price that could not be found on a Google page is None, with a note saying so:
a cost built on it is shown as unknown, never guessed. Prices change: re-read the pages and update
`READ_ON` together with the figures.
"""

from __future__ import annotations

from dataclasses import dataclass

READ_ON = "2026-12-03"

# Google prices monthly items for 730 hours a month (its pricing calculator's "730 hours" per month, e.g. a
# zonal cluster "730 hours" in https://cloud.google.com/products/calculator estimates).
HOURS_PER_MONTH = 730

GKE_PRICING = "https://cloud.google.com/kubernetes-engine/pricing"
VM_PRICING = "https://cloud.google.com/compute/vm-instance-pricing"
DISK_PRICING = "https://cloud.google.com/compute/disks-image-pricing"
NAT_PRICING = "https://cloud.google.com/nat/pricing"
KMS_PRICING = "https://cloud.google.com/kms/pricing"


@dataclass(frozen=True)
class Price:
    """One list price: `usd` per `unit`, or None when the page did not give it (then `note` says why)."""

    usd: float | None
    unit: str
    source: str
    read_on: str = READ_ON
    note: str = ""

    @property
    def known(self) -> bool:
        return self.usd is not None


# "a cluster management fee of $0.10 per cluster per hour ... irrespective of cluster size or topology";
# the one free zonal cluster per billing account does not apply to the labs' regional clusters.
CLUSTER_MANAGEMENT = Price(0.10, "cluster-hour", GKE_PRICING)

# Boot disks, per GB of provisioned space per month. The page's own example: "a 200 GB standard Persistent
# Disk volume would cost $8.00 for the whole month ... a 200 GB SSD Persistent Disk volume would cost $34.00".
DISK_GB_MONTH: dict[str, Price] = {
    "pd-standard": Price(0.04, "GB-month", DISK_PRICING),
    "pd-ssd": Price(0.17, "GB-month", DISK_PRICING),
    "pd-balanced": Price(
        None,
        "GB-month",
        DISK_PRICING,
        note="not found in the stored copy of the page (its price table did not come through)",
    ),
}

# Public Cloud NAT: "$0.0014 * the number of VM instances that are using the gateway" up to 32 VMs, "$0.044"
# an hour beyond, and "$0.005" an hour for each external IP address the gateway uses.
NAT_PER_VM_HOUR = Price(0.0014, "VM-hour", NAT_PRICING)
NAT_GATEWAY_CAP_HOUR = Price(0.044, "gateway-hour", NAT_PRICING, note="the hourly price above 32 VMs")
NAT_VM_CAP = 32
NAT_ADDRESS_HOUR = Price(0.005, "address-hour", NAT_PRICING)
# "$0.045" per GiB processed, inbound and outbound: depends on traffic, so it is left out of the hourly cost.
NAT_DATA_GIB = Price(0.045, "GiB processed", NAT_PRICING, note="traffic-dependent: not in the hourly cost")

# "Active symmetric AES-256 ... key versions: $0.06 per month" at protection level SOFTWARE (prices
# effective March 17, 2025); destroyed versions are free; key operations are usage-dependent and left out.
KMS_KEY_VERSION_MONTH = Price(0.06, "key version-month", KMS_PRICING)

# Not found: the stored copy of the page lacks its per-machine-type tables, and the third-party copies of
# them that turned up disagree with each other (the same type at prices a factor of 30 apart). The Spot
# page (https://cloud.google.com/spot-vms/pricing) showed E2 at $0.00872 per vCPU-hour and $0.001169 per
# GiB-hour, but its stored copy does not say for which region, and Spot prices change up to once a day:
# not used.
_MACHINE_NOT_FOUND = "price not found on Google's page (see gke_lab/prices.py)"


def machine_hour(machine_type: str, preemptible: bool) -> Price:
    """The hourly list price of one VM of `machine_type` (spot/preemptible or on-demand).

    No machine-type price was found on Google's page, so every lookup answers an unknown price; filling the
    table in is a change to this function only."""
    model = "spot/preemptible" if preemptible else "on-demand"
    return Price(None, f"{machine_type} {model} VM-hour", VM_PRICING, note=_MACHINE_NOT_FOUND)
