"""State and rules of one emulated GKE cluster's Kubernetes API.

Objects are kept as the JSON the apiserver would store. Time-dependent status (pods pulling images and
becoming Ready, endpoints, deployment status, load balancer ingress) is derived lazily from a monotonic
clock whenever the API is read, so no background threads are needed and ``delay(...)`` scaling applies.

API surface: ``/version``, ``/api``, ``/apis``; core/v1 namespaces (CRUD), nodes (read), pods (read, delete,
``log``), services (CRUD), endpoints and events (read), the service proxy
``/api/v1/namespaces/N/services/[http:]NAME[:PORT]/proxy/PATH``; apps/v1 deployments (CRUD, ``status``,
``scale``) and replicasets (read); rbac.authorization.k8s.io/v1 roles, rolebindings, clusterroles and
clusterrolebindings (CRUD; the default ClusterRoles at start). Each request is authorized as GKE does it
(``authz``: IAM, then RBAC), when the cluster is given an access model. Lists take label and field selectors
and ``watch=true``. Patches: JSON patch, JSON merge patch and strategic merge patch (merge keys for the lists
these objects use).

Layout: ``cluster`` is the facade (server lifecycle, request entry, the refresh pass), composed of one mixin
per concern (``routes``, ``verbs``, ``watch``, ``events``, ``namespaces``, ``nodes``, ``bootstrap``,
``deployments``, ``rollout``, ``pods``, ``services``, ``endpoints``, ``proxy``, ``rbac``); ``objects``,
``errors``, ``selectors``, ``patches``, ``validation``, ``images`` and ``echo`` are plain helpers they share.
"""

from emulator.kubernetes.cluster import KubeCluster
from emulator.kubernetes.images import image_registry, is_google_registry
from emulator.kubernetes.objects import DEFAULT_VERSION, KINDS, SYSTEM_NAMESPACES
from emulator.kubernetes.patches import json_merge_patch, json_patch, strategic_merge_patch
from emulator.kubernetes.proxy import ECHO_PORT
from emulator.kubernetes.selectors import fields_match, labels_match, parse_label_selector, selector_string

__all__ = [
    "DEFAULT_VERSION",
    "ECHO_PORT",
    "KINDS",
    "SYSTEM_NAMESPACES",
    "KubeCluster",
    "fields_match",
    "image_registry",
    "is_google_registry",
    "json_merge_patch",
    "json_patch",
    "labels_match",
    "parse_label_selector",
    "selector_string",
    "strategic_merge_patch",
]
