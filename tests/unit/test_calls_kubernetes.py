"""gke_lab.calls recognises the Kubernetes client's 404 / 409, including its typed subclasses."""

from kubernetes.client.exceptions import ApiException, NotFoundException

from gke_lab import calls


def test_kubernetes_not_found_subclass_reads_as_none():
    def read():
        raise NotFoundException(status=404, reason="Not Found")

    assert calls.get_or_none(read, resource="Deployment default/echo-deployment") is None


def test_kubernetes_conflict_on_create_answers_none_and_other_errors_do_not():
    def create():
        raise ApiException(status=409, reason="AlreadyExists")

    assert (
        calls.create_or_existing(create, resource="Service default/echo-service", retryable=lambda e: False)
        is None
    )
    assert not calls.is_missing(ApiException(status=500))
    assert not calls.is_existing(ApiException(status=404))
