"use client";
// Keep-warm schedule of one satellite: what it does next (wake, hold, earliest sleep), and an
// editor for admins. Validation runs here with the server's own schema, so a person reads the
// same sentence before saving that the API would answer.
import { DAY_LABELS, DAYS, type Day, scheduleSchema } from "@satellites/schedule/windows";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { inferRouterOutputs } from "@trpc/server";
import { type FormEvent, useEffect, useRef, useState } from "react";
import { relative } from "@/lib/format.ts";
import { errorMessage, useTRPC } from "@/lib/trpc.tsx";
import type { AppRouter } from "@/server/routers/index.ts";
import { Alert, Badge, Button, Card, Field, Input, Select, Spinner, useNow } from "./ui.tsx";

type ScheduleView = inferRouterOutputs<AppRouter>["satellite"]["getSchedule"];

interface SatelliteRef {
  id: string;
  role: string;
  stateChangedAt: string | Date;
}

interface DraftWindow {
  days: Day[];
  start: string;
  end: string;
}

const OFFICE: DraftWindow = { days: ["mon", "tue", "wed", "thu", "fri"], start: "08:30", end: "18:00" };

/** "Mon 7 Dec, 08:29 CET" in the schedule's zone. */
function at(date: string | Date, timeZone: string): string {
  return new Intl.DateTimeFormat("en-GB", { timeZone, weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZoneName: "short" }).format(new Date(date));
}

/** A whole day cannot be typed in a time field (no 24:00): 00:00–00:00 means it. */
const toApi = (w: DraftWindow) => ({ days: w.days, start: w.start, end: w.end === "00:00" && w.start === "00:00" ? "24:00" : w.end });
const fromApi = (w: DraftWindow): DraftWindow => ({ days: [...w.days], start: w.start, end: w.end === "24:00" ? "00:00" : w.end });

export function ScheduleCard({ satellite: s }: { satellite: SatelliteRef }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const key = trpc.satellite.getSchedule.queryKey({ id: s.id });
  const q = useScheduleView(s);
  const [draft, setDraft] = useState<{ timeZone: string; windows: DraftWindow[] } | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const save = useMutation(
    trpc.satellite.setSchedule.mutationOptions({
      onSuccess: (view) => {
        queryClient.setQueryData(key, view);
        setDraft(null);
        setSaved(view.schedule ? "Schedule saved." : "Schedule removed: the idle timeout alone decides when it sleeps.");
      },
    }),
  );
  const canEdit = s.role !== "member";

  if (q.isLoading) return <Card title="Keep-warm schedule"><Spinner label="Loading schedule…" /></Card>;
  if (q.error || !q.data) return <Card title="Keep-warm schedule"><Alert>{errorMessage(q.error)}</Alert></Card>;
  const v = q.data;
  const zone = v.schedule?.timeZone ?? "UTC";

  const edit = () => {
    setSaved(null);
    save.reset();
    setDraft(v.schedule ? { timeZone: v.schedule.timeZone, windows: v.schedule.windows.map(fromApi) } : { timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone, windows: [{ ...OFFICE, days: [...OFFICE.days] }] });
  };

  return (
    <Card
      title="Keep-warm schedule"
      description={`Awake during these hours: woken ${v.wakeLeadSeconds} s before a window opens, never put to sleep for idleness inside it. Outside, the idle timeout applies.`}
      actions={v.schedule ? <Badge tone="indigo">{v.schedule.summary}</Badge> : <Badge>No schedule</Badge>}
    >
      <div className="space-y-4">
        {v.schedule ? (
          <ScheduleFigures view={v} zone={zone} />
        ) : (
          <p className="text-sm text-slate-600">No schedule: the satellite sleeps after its idle timeout and wakes when a build arrives. A schedule keeps it warm for working hours, so the first build of the day finds it awake.</p>
        )}
        {saved && !draft && <Alert tone="green">{saved}</Alert>}
        {draft ? (
          <ScheduleEditor draft={draft} setDraft={setDraft} busy={save.isPending} error={save.error ? errorMessage(save.error) : null} onCancel={() => setDraft(null)} onSave={(schedule) => save.mutate({ id: s.id, schedule })} />
        ) : canEdit ? (
          <div className="flex flex-wrap gap-2">
            <Button variant="secondary" onClick={edit}>
              {v.schedule ? "Edit schedule" : "Set a schedule"}
            </Button>
            {v.schedule && (
              <Button variant="ghost" busy={save.isPending} onClick={() => save.mutate({ id: s.id, schedule: null })}>
                Remove schedule
              </Button>
            )}
          </div>
        ) : (
          <p className="text-xs text-slate-500">Only admins and owners can change the schedule.</p>
        )}
        {save.error && !draft && <Alert>{errorMessage(save.error)}</Alert>}
      </div>
    </Card>
  );
}

/** The satellite's schedule and what it does next; read again whenever the satellite changes state (the scheduled wake, a sleep). */
function useScheduleView(s: SatelliteRef) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const q = useQuery(trpc.satellite.getSchedule.queryOptions({ id: s.id }, { refetchInterval: 60_000 }));
  const changedAt = String(s.stateChangedAt);
  const seen = useRef(changedAt);
  useEffect(() => {
    if (seen.current === changedAt) return;
    seen.current = changedAt;
    void queryClient.invalidateQueries({ queryKey: trpc.satellite.getSchedule.queryKey({ id: s.id }) });
  }, [changedAt, queryClient, trpc, s.id]);
  return q;
}

/** Next wake, how long it is held awake, and the earliest sleep, in the schedule's zone. */
function ScheduleFigures({ view: v, zone }: { view: ScheduleView; zone: string }) {
  const now = useNow(1000);
  return (
    <dl className="grid grid-cols-1 gap-x-4 gap-y-3 text-sm sm:grid-cols-3">
      <div>
        <dt className="text-xs font-medium text-slate-500">Next wake</dt>
        <dd className="mt-0.5 text-slate-900" data-testid="schedule-next-wake">
          {v.nextWakeAt && <>{at(v.nextWakeAt, zone)} <span className="text-slate-500">({relative(v.nextWakeAt, now)})</span></>}
        </dd>
        {v.nextWindow && <dd className="text-xs text-slate-500">for the window opening {at(v.nextWindow.opensAt, zone)}</dd>}
      </div>
      <div>
        <dt className="text-xs font-medium text-slate-500">Kept awake until</dt>
        <dd className="mt-0.5 text-slate-900">{v.keptAwakeUntil ? at(v.keptAwakeUntil, zone) : <span className="text-slate-500">not held now</span>}</dd>
      </div>
      <div>
        <dt className="text-xs font-medium text-slate-500">Sleeps at the earliest</dt>
        <dd className="mt-0.5 text-slate-900">{v.nextSleepAt ? <>{at(v.nextSleepAt, zone)} <span className="text-slate-500">if no build comes</span></> : <span className="text-slate-500">not awake</span>}</dd>
      </div>
    </dl>
  );
}

function ScheduleEditor({
  draft,
  setDraft,
  busy,
  error,
  onCancel,
  onSave,
}: {
  draft: { timeZone: string; windows: DraftWindow[] };
  setDraft: (d: { timeZone: string; windows: DraftWindow[] }) => void;
  busy: boolean;
  error: string | null;
  onCancel: () => void;
  onSave: (schedule: { timeZone: string; windows: { days: Day[]; start: string; end: string }[] }) => void;
}) {
  const zones = ["UTC", ...Intl.supportedValuesOf("timeZone")];
  const parsed = scheduleSchema.safeParse({ timeZone: draft.timeZone, windows: draft.windows.map(toApi) });
  const problem = parsed.success ? null : parsed.error.issues[0]!.message;
  const setWindow = (i: number, w: DraftWindow) => setDraft({ ...draft, windows: draft.windows.map((x, j) => (j === i ? w : x)) });

  function submit(e: FormEvent) {
    e.preventDefault();
    if (parsed.success) onSave({ timeZone: parsed.data.timeZone, windows: parsed.data.windows });
  }

  return (
    <form onSubmit={submit} className="space-y-4" aria-label="Edit keep-warm schedule">
      <Field label="Time zone" hint="The windows are read in this zone, daylight-saving changes included.">
        {(p) => (
          <Select id={p.id} aria-describedby={p.describedBy} value={draft.timeZone} onChange={(e) => setDraft({ ...draft, timeZone: e.target.value })} className="sm:max-w-xs">
            {!zones.includes(draft.timeZone) && <option value={draft.timeZone}>{draft.timeZone}</option>}
            {zones.map((z) => (
              <option key={z} value={z}>
                {z}
              </option>
            ))}
          </Select>
        )}
      </Field>
      <ol className="space-y-3">
        {draft.windows.map((w, i) => (
          <li key={i} className="rounded-md p-3 ring-1 ring-slate-200">
            <fieldset className="space-y-3">
              <legend className="text-xs font-semibold text-slate-700">Window {i + 1}</legend>
              <div role="group" aria-label={`Window ${i + 1} days`} className="flex flex-wrap gap-1.5">
                {DAYS.map((d) => {
                  const on = w.days.includes(d);
                  return (
                    <label key={d} className={`cursor-pointer rounded-md px-2.5 py-1 text-xs font-medium ring-1 ring-inset has-[:focus-visible]:ring-2 has-[:focus-visible]:ring-indigo-600 ${on ? "bg-indigo-600 text-white ring-indigo-600" : "bg-white text-slate-700 ring-slate-300"}`}>
                      <input type="checkbox" className="sr-only" checked={on} onChange={() => setWindow(i, { ...w, days: on ? w.days.filter((x) => x !== d) : DAYS.filter((x) => x === d || w.days.includes(x)) })} />
                      {DAY_LABELS[d]}
                    </label>
                  );
                })}
              </div>
              <div className="grid grid-cols-2 gap-3 sm:max-w-sm">
                <Field label="From">{(p) => <Input id={p.id} type="time" required value={w.start} onChange={(e) => setWindow(i, { ...w, start: e.target.value })} />}</Field>
                <Field label="Until" hint={w.end <= w.start ? "next day" : undefined}>
                  {(p) => <Input id={p.id} aria-describedby={p.describedBy} type="time" required value={w.end} onChange={(e) => setWindow(i, { ...w, end: e.target.value })} />}
                </Field>
              </div>
              {draft.windows.length > 1 && (
                <Button variant="ghost" className="text-xs" onClick={() => setDraft({ ...draft, windows: draft.windows.filter((_, j) => j !== i) })}>
                  Remove window {i + 1}
                </Button>
              )}
            </fieldset>
          </li>
        ))}
      </ol>
      {problem && <Alert tone="amber">{problem}</Alert>}
      {error && <Alert>{error}</Alert>}
      <div className="flex flex-wrap gap-2">
        <Button type="submit" busy={busy} disabled={!parsed.success}>
          Save schedule
        </Button>
        <Button variant="secondary" onClick={() => setDraft({ ...draft, windows: [...draft.windows, { days: ["sat"], start: "10:00", end: "14:00" }] })} disabled={draft.windows.length >= 20}>
          Add window
        </Button>
        <Button variant="ghost" onClick={onCancel}>
          Cancel
        </Button>
      </div>
    </form>
  );
}
