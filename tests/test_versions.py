"""Package versions in manifests come from the metadata header alone, and agree with
importlib.metadata's full parse."""

from importlib import metadata

from harness.versions import installed_version


def test_every_installed_distribution_reads_the_version_importlib_metadata_reads():
    distributions = list(metadata.distributions())
    assert len(distributions) > 20  # the test environment's packages
    for dist in distributions:
        assert installed_version(dist.metadata["Name"]) == dist.version, dist.metadata["Name"]


def test_a_package_that_is_not_installed_has_no_version():
    assert installed_version("no-such-distribution-harness-test") is None
