// Formatting for people: relative times, durations, sizes, money.

export function duration(ms: number | null | undefined): string {
  if (ms == null) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

export function seconds(total: number): string {
  if (total % 86400 === 0) return `${total / 86400} d`;
  if (total % 3600 === 0) return `${total / 3600} h`;
  if (total % 60 === 0) return `${total / 60} min`;
  return `${total} s`;
}

export function relative(date: Date | string | null | undefined, now = Date.now()): string {
  if (!date) return "never";
  const t = new Date(date).getTime();
  const diff = Math.round((now - t) / 1000);
  const future = diff < 0;
  const a = Math.abs(diff);
  let text: string;
  if (a < 10) return "just now";
  if (a < 60) text = `${a} s`;
  else if (a < 3600) text = `${Math.floor(a / 60)} min`;
  else if (a < 86400) text = `${Math.floor(a / 3600)} h`;
  else text = `${Math.floor(a / 86400)} d`;
  return future ? `in ${text}` : `${text} ago`;
}

export function dateTime(date: Date | string | null | undefined): string {
  if (!date) return "—";
  return new Date(date).toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function mib(v: number): string {
  return v >= 1024 && v % 1024 === 0 ? `${v / 1024} GiB` : v >= 1024 ? `${(v / 1024).toFixed(1)} GiB` : `${v} MiB`;
}

export function usd(v: number): string {
  return v.toLocaleString(undefined, { style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: v < 1 ? 4 : 2 });
}

export function hours(h: number): string {
  return h < 10 ? `${h.toFixed(1)} h` : `${Math.round(h)} h`;
}

/** Bytes in binary units: "0 B", "512 KiB", "1.5 GiB". */
export function bytes(n: number | null | undefined): string {
  if (n == null) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** Hours for a tooltip or table: minutes below an hour, so 0.13 h reads "8 min". */
export function hoursExact(h: number): string {
  if (h === 0) return "0 h";
  if (h < 1) return `${Math.max(1, Math.round(h * 60))} min`;
  return `${h.toFixed(h < 10 ? 2 : 1)} h`;
}
