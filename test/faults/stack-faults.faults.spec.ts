/**
 * Fault injection, full run: while 40 sagas run, Postgres, the Kafka broker, Kafka Connect, the
 * schema registry and every processor are each killed with SIGKILL and restarted, one at a time;
 * the fault table goes to stdout and bench/results/faults-<date>.json and .md. What is checked and
 * counted, and how time to recover is measured: test/support/fault-suite.ts.
 */
import { stackFaultSuite } from '../support/fault-suite.ts';
import { FAULT_TARGETS } from '../support/faults.ts';

stackFaultSuite({ sagas: 40, targets: FAULT_TARGETS, writeResults: true });
