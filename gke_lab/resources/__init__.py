"""One decision per resource: for each kind the run touches, `read` (live state or None), `assess(spec, live)`
-> a typed Decision, and `ensure` built on `assess` (get -> create if missing -> wait -> read back -> assess
again -> raise what the decision says). `gke_lab.plan` is a loop over the same `assess` functions, so the
plan says what the run does; the Prefect tasks are one-line wrappers around `ensure`.

Modules: default_network, network, subnetwork, router, key_ring, crypto_key, key_bindings,
service_account, project_bindings, cluster, workload; project (number, version) and iam_policy (etag
read-modify-write) are shared lookups.
"""

from gke_lab.resources.decision import Action, Blocker, Decision, Difference, SettingsDriftError

__all__ = ["Action", "Blocker", "Decision", "Difference", "SettingsDriftError"]
