"""The wire side of the training service: protobuf messages to domain objects and back."""
