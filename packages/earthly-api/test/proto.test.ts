import { describe, expect, it } from 'vitest';
import { loadEarthlyServices } from '../src/proto.js';

describe('earthly-api proto definitions', () => {
  it('load and name the methods the Earthly CLI calls, with their stream kinds', () => {
    const { Compute, Billing, LogStream, Analytics } = loadEarthlyServices();
    const methods = Object.fromEntries(
      Object.values(Compute.service).map((m) => [m.path, [m.requestStream, m.responseStream]]),
    );
    expect(methods).toEqual({
      '/api.public.compute.Compute/LaunchSatellite': [false, false],
      '/api.public.compute.Compute/ListSatellites': [false, false],
      '/api.public.compute.Compute/UpdateSatellite': [false, false],
      '/api.public.compute.Compute/DeleteSatellite': [false, false],
      '/api.public.compute.Compute/GetSatellite': [false, false],
      '/api.public.compute.Compute/WakeSatellite': [false, true],
      '/api.public.compute.Compute/SleepSatellite': [false, true],
      '/api.public.compute.Compute/ReserveSatellite': [false, true],
    });
    expect(Billing.service.GetBillingPlan!.path).toBe('/api.public.billing.Billing/GetBillingPlan');
    expect(LogStream.service.StreamLogs!.requestStream).toBe(true);
    expect(Analytics.service.SendAnalytics!.path).toBe('/api.public.analytics.Analytics/SendAnalytics');
  });
});
