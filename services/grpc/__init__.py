"""The gRPC API: servicers that convert protobuf to application calls and back."""
