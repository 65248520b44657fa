-- OOM kills on a satellite, in its history: events with cause "memory" change no state.
ALTER TYPE "EventCause" ADD VALUE 'memory';
