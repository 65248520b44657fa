// An EC2 API error as the service reports it: a code from AWS's error table, a message, and the
// HTTP status (4xx for client errors, 5xx for server errors and throttling) the SDK keys its
// retry decisions on.
export class Ec2Error extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export const incorrectState = (id: string, message: string): Ec2Error =>
  new Ec2Error("IncorrectInstanceState", message.replace("{id}", id));

export const notFound = (ids: string[]): Ec2Error =>
  new Ec2Error(
    "InvalidInstanceID.NotFound",
    ids.length === 1 ? `The instance ID '${ids[0]}' does not exist` : `The instance IDs '${ids.join(", ")}' do not exist`,
  );

export const missingParameter = (name: string): Ec2Error =>
  new Ec2Error("MissingParameter", `The request must contain the parameter ${name}`);

export const invalidValue = (name: string, value: string, why = ""): Ec2Error =>
  new Ec2Error("InvalidParameterValue", `Invalid value '${value}' for ${name}.${why ? ` ${why}` : ""}`);
