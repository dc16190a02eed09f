/** One dependency the instance needs to serve; /health/ready runs every check. */
export interface ReadinessCheck {
  name: string;
  check: () => Promise<void> | void;
  /** A failure degrades the instance (still 200, status "degraded") instead of taking it out of service. */
  degradesOnly?: boolean;
  /** A short, host-free cause of a failure ("connection refused"), shown in the readiness answer. */
  explain?: (error: unknown) => string;
}
