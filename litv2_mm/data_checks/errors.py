"""The errors of broken data: each message names the file, the entry (annotation id, image
id, index, file) and the value, and says what to do."""


class DataError(ValueError):
    """Broken data: the message names the file and what to do."""


class ImageFileError(DataError):
    """An image file that cannot be read."""


class ImageSizeError(DataError):
    """An image whose decoded size differs from the size its annotation file gives it."""


class CocoAnnotationError(DataError):
    """A COCO-format annotation file with entries mmdet or pycocotools fail on or drop."""


class LabelMapError(DataError):
    """A segmentation label map that is not one class index per pixel of the config's
    classes (colour, 16-bit values, indices beyond the classes, missing)."""


class ClassCountError(DataError):
    """A model head with fewer outputs (``num_classes``) than the dataset has classes."""
