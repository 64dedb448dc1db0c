from tests.detections.athena_kit import embedded_athena

__all__ = ["embedded_athena"]
