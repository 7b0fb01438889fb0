"""Test stand-in: cinder's own fake volume driver, with image copies that do nothing.

There is no block device behind these volumes; creating one from an image (boot from volume) only has to
succeed through the API."""
# Loaded by the services in the test cloud's venv; their packages are not in ours, hence:
# mypy: ignore-errors

from cinder.tests.fake_driver import FakeLoggingVolumeDriver


class NoCopyFakeVolumeDriver(FakeLoggingVolumeDriver):
    def copy_image_to_volume(self, context, volume, image_service, image_id, disable_sparse=False):
        pass

    def copy_volume_to_image(self, context, volume, image_service, image_meta):
        pass
