/** The training example as a config module: what `--config examples/ml-training/sagaline.config.ts` loads. */
import { trainingParticipants } from './participants.ts';
import { trainingSaga } from './saga.ts';
import { trainingSettings } from './settings.ts';

const settings = trainingSettings();
const saga = trainingSaga(settings.deadlinesMs);

export default { schemas: './schemas', sagas: [saga], participants: trainingParticipants(saga, settings) };
