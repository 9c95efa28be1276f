/**
 * The training example as a config module: what `--config examples/ml-training/sagaline.config.ts`
 * loads — the saga, its four services, and `update_model` (a two-phase commit across the model and
 * audit services) whose messages go to the `model-versions` stream.
 */
import { trainingParticipants } from './participants.ts';
import { trainingSaga } from './saga.ts';
import { trainingSettings } from './settings.ts';
import { MODEL_VERSIONS_STREAM, UPDATE_MODEL_ACTIONS } from './update-model.ts';

const settings = trainingSettings();
const saga = trainingSaga(settings.deadlinesMs);

export default {
  schemas: './schemas',
  sagas: [saga],
  participants: trainingParticipants(saga, settings),
  streams: { [MODEL_VERSIONS_STREAM]: ['ModelVersionChanged', 'ModelVersionAudited'] },
  twoPhaseCommit: { actions: UPDATE_MODEL_ACTIONS },
};
