"""The HTTP service: online rewrites and assistant turns behind `selflearn serve`."""
