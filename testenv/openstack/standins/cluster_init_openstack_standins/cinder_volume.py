"""Test stand-in: cinder's own fake volume driver, which clones images the way a Ceph (RBD) backend does.

There is no block device behind these volumes. A volume from an image (CAPO's root volumes, boot from volume)
is "cloned" in place, so cinder never downloads the image and runs `qemu-img` through rootwrap, which the
test cloud does not set up; copies to an image do nothing."""
# Loaded by the services in the test cloud's venv; their packages are not in ours, hence:
# mypy: ignore-errors

from cinder.tests.fake_driver import FakeLoggingVolumeDriver


class NoCopyFakeVolumeDriver(FakeLoggingVolumeDriver):
    def clone_image(self, context, volume, image_location, image_meta, image_service):
        return self.create_volume(volume) or {}, True

    def copy_image_to_volume(self, context, volume, image_service, image_id, disable_sparse=False):
        pass

    def copy_volume_to_image(self, context, volume, image_service, image_meta):
        pass
