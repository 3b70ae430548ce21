// The chat layer names OriginPolicy, EngineSession and friends through SocketIO alone.
@_exported import EngineIO
