"""vidseg data: format I/O, dataset loaders and registration, mappers, transforms, loaders."""
