// gRPC errors as grpc-js expects them from a handler (callback(err) / call.emit("error")).
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";

export class EarthlyApiError extends Error implements Partial<ServiceError> {
  override name = "EarthlyApiError";
  readonly details: string;
  readonly metadata = new Metadata();
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
    this.details = message;
  }
}

export const invalid = (message: string) => new EarthlyApiError(status.INVALID_ARGUMENT, message);
export const notFound = (message: string) => new EarthlyApiError(status.NOT_FOUND, message);
export const refused = (message: string) => new EarthlyApiError(status.FAILED_PRECONDITION, message);
/**
 * A satellite that failed, in the status streams: ABORTED, the one code the Earthly CLI (v0.8)
 * neither retries (FAILED_PRECONDITION it retries for ~30 s) nor replaces with words of its own
 * (a FAILED status message it does): it prints this message, our reason, and exits.
 */
export const failedSatellite = (message: string) => new EarthlyApiError(status.ABORTED, message);
export const denied = (message: string) => new EarthlyApiError(status.PERMISSION_DENIED, message);
export const unauthenticated = (message: string) => new EarthlyApiError(status.UNAUTHENTICATED, message);
export const exhausted = (message: string) => new EarthlyApiError(status.RESOURCE_EXHAUSTED, message);

/** Any thrown value as a gRPC error: ours as they are, anything else UNAVAILABLE without its text (the CLI retries it). */
export function toServiceError(err: unknown): EarthlyApiError {
  if (err instanceof EarthlyApiError) return err;
  return new EarthlyApiError(status.UNAVAILABLE, "the satellite service cannot answer right now; try again");
}
