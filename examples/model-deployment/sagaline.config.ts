/** The deployment example as a config module: what `--config examples/model-deployment/sagaline.config.ts` loads. */
import { ConfigError } from '../../index.ts';
import { deploymentParticipants } from './participants.ts';
import { deploymentSaga } from './saga.ts';

const raw = process.env.DEPLOYMENT_DEADLINE_SCALE;
const scale = raw === undefined || raw === '' ? 1 : Number(raw);
if (!(scale > 0)) throw new ConfigError(`DEPLOYMENT_DEADLINE_SCALE must be a positive number, got "${raw}"`);
const saga = deploymentSaga(scale);

export default { schemas: './schemas', sagas: [saga], participants: deploymentParticipants(saga) };
