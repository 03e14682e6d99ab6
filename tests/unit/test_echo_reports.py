"""Markdown artifacts: the article's VPC listing, verification, audit and the lab card, with no secret."""

from __future__ import annotations

from google.cloud import compute_v1

from gke_lab import reports
from gke_lab.ipplan import plan
from gke_lab.spec import LabSpec

TOKEN = "ya29.a0AfB_secret-token-value"


def article_firewalls():
    tag = "gke-cluster-f0a2ee52-node"
    return [
        compute_v1.Firewall(
            name="gke-cluster-f0a2ee52-all",
            direction="INGRESS",
            source_ranges=["100.64.0.0/14"],
            allowed=[compute_v1.Allowed(I_p_protocol=p) for p in ("icmp", "esp", "ah", "sctp", "tcp", "udp")],
            target_tags=[tag],
        ),
        # REST JSON (as the emulator's state or a raw API listing gives it) is accepted too.
        {
            "name": "gke-cluster-f0a2ee52-master",
            "direction": "INGRESS",
            "sourceRanges": ["172.16.0.0/28"],
            "allowed": [{"IPProtocol": "tcp", "ports": ["10250", "443"]}],
            "targetTags": [tag],
        },
        compute_v1.Firewall(
            name="gke-cluster-f0a2ee52-vms",
            direction="INGRESS",
            source_ranges=["10.128.0.0/20"],
            allowed=[
                compute_v1.Allowed(I_p_protocol="icmp"),
                compute_v1.Allowed(I_p_protocol="tcp", ports=["1-65535"]),
                compute_v1.Allowed(I_p_protocol="udp", ports=["1-65535"]),
            ],
            target_tags=[tag],
        ),
    ]


def article_routes():
    gw = "https://www.googleapis.com/compute/v1/projects/gke-detail/global/gateways/default-internet-gateway"
    net = "https://www.googleapis.com/compute/v1/projects/gke-detail/global/networks/gke-network"
    return [
        compute_v1.Route(name="default-route-1", dest_range="0.0.0.0/0", next_hop_gateway=gw),
        compute_v1.Route(name="default-route-2", dest_range="10.128.0.0/20", next_hop_network=net),
        {"name": "peering-route-abc", "destRange": "172.16.0.0/28", "nextHopPeering": "gke-n1234-peer"},
    ]


def test_vpc_impact_lists_the_article_rules_and_routes():
    md = reports.vpc_impact_markdown(article_firewalls(), article_routes(), network="gke-network")
    assert "| gke-cluster-f0a2ee52-all | INGRESS | 100.64.0.0/14 | icmp,esp,ah,sctp,tcp,udp | " in md
    assert "| gke-cluster-f0a2ee52-master | INGRESS | 172.16.0.0/28 | tcp:10250,tcp:443 | " in md
    assert "| gke-cluster-f0a2ee52-vms | INGRESS | 10.128.0.0/20 | icmp,tcp:1-65535,udp:1-65535 | " in md
    assert "gke-cluster-f0a2ee52-node |" in md
    assert "| default-route-1 | 0.0.0.0/0 | default-internet-gateway | all |" in md
    assert "| peering-route-abc | 172.16.0.0/28 | peering gke-n1234-peer | all |" in md
    assert "network gke-network (subnet route)" in md
    assert "## Firewall rules (3)" in md and "## Routes (3)" in md


def test_ip_plan_table():
    md = reports.ip_plan_markdown(plan(LabSpec()))
    assert "| nodes (subnet primary range) | 10.128.0.0/20 |" in md
    assert "| Pods (secondary range) | 100.64.0.0/14 |" in md
    assert "| Services (secondary range) | 100.68.0.0/20 | 4096 Services |" in md


def verification_report(passed=True):
    return {
        "passed": passed,
        "checks": [
            {"id": "service-answers", "title": "echo answers", "passed": True, "detail": "nginx: 1.10.0"},
            {"id": "pods-spread", "title": "spread", "passed": passed, "detail": {"zones": ["a", "b"]}},
        ],
        "echo_report": {
            "client": {"request_uri": "http://10.0.0.5:8080/gke-lab/probe"},
            "server": {"server_version": "nginx: 1.10.0 - lua: 10001"},
            "headers": {"host": "10.0.0.5:8080", "authorization": f"Bearer {TOKEN}"},
            "body": "",
        },
        "path": "/gke-lab/probe",
        "nodes": [{"name": "n1", "zone": "us-west1-a", "ready": True}],
        "pods": [{"name": "p1", "node": "n1", "zone": "us-west1-a", "phase": "Running", "ready": True}],
    }


def test_verification_markdown_shows_results_and_drops_authorization():
    md = reports.verification_markdown(verification_report())
    assert md.startswith("# Verification: PASS")
    assert "request_uri=http://10.0.0.5:8080/gke-lab/probe" in md
    assert "| n1 | us-west1-a | yes |" in md
    assert TOKEN not in md and not reports.contains_secret(md)
    assert reports.verification_markdown(verification_report(False)).startswith("# Verification: FAIL")


def test_audit_markdown():
    checks = [
        {"id": "x", "title": "T", "cis": "CIS 5.6.5", "passed": True, "field": "a.b", "value": True},
        {"id": "y", "title": "U", "cis": "CIS 5.6.3", "passed": False, "field": "c", "value": ["0.0.0.0/0"]},
    ]
    md = reports.audit_markdown(checks)
    assert md.startswith("# CIS GKE audit: 1/2 checks pass")
    assert "| y | U | CIS 5.6.3 | FAIL | `c` | 0.0.0.0/0 |" in md


def test_lab_card():
    spec = LabSpec()
    md = reports.lab_card_markdown(
        spec,
        endpoint="34.1.2.3",
        expires=1_800_000_000,
        verification_passed=True,
        audit_summary={"passed": 18, "total": 18},
        now=1_800_000_000 - 8 * 3600,
    )
    assert "| project | gke-detail |" in md
    assert "| cluster | cluster |" in md
    assert "| endpoint | https://34.1.2.3 |" in md
    assert "2027-01-15 08:00 UTC (in 8.0 h; unix 1800000000)" in md
    assert "gke-lab kubeconfig --set project_id=gke-detail --set region=us-west1" in md
    assert "kubectl --context gke_gke-detail_us-west1_cluster get" in md
    assert "| CIS audit | 18/18 checks pass |" in md
    assert not reports.contains_secret(md)
    assert "never" in reports.lab_card_markdown(spec, endpoint="", expires=0)


def test_secret_guard_detects_tokens():
    assert reports.contains_secret(f"token {TOKEN}")
    assert reports.contains_secret("Authorization: Bearer abc")
    assert not reports.contains_secret("gke-gcloud-auth-plugin")


def test_lab_card_shows_channel_version_and_upgrade_hold():
    spec = LabSpec()
    md = reports.lab_card_markdown(spec, endpoint="34.1.2.3", expires=1_800_000_000, version="1.33.5-gke.1")
    assert "| release channel | REGULAR |" in md
    assert "| version | 1.33.5-gke.1 |" in md
    assert "| upgrades held | NO_MINOR_OR_NODE_UPGRADES until 2027-01-15 08:00 UTC |" in md
    forever = reports.lab_card_markdown(spec, endpoint="", expires=0)
    assert "NO_MINOR_OR_NODE_UPGRADES until the minor version's end of support" in forever
