export { EARTHLY_API_CHANNELS, startEarthlyApi, type EarthlyApi, type EarthlyApiConfig, type EarthlyApiDeps } from "./server.ts";
export { loadEarthlyServices, protoFiles, protoRoot } from "./proto.ts";
export { SatelliteStatus } from "./mapping.ts";
