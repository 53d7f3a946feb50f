/** Stable error codes of the trainer. */
export const TrainerErrorCode = {
  /** The exported ONNX model does not give the TypeScript model's probabilities. */
  onnxMismatch: 'HITL_ERR_TRAINER_ONNX_MISMATCH',
  /** The training worker thread failed or exited. */
  worker: 'HITL_ERR_TRAINER_WORKER',
  /** The run was taken from this trainer (it stopped, or another replica found it abandoned). */
  interrupted: 'HITL_ERR_TRAINER_INTERRUPTED',
  /** The promoted version changed while the candidate trained: it was compared with another one. */
  championChanged: 'HITL_ERR_TRAINER_CHAMPION_CHANGED',
} as const;

export type TrainerErrorCode = (typeof TrainerErrorCode)[keyof typeof TrainerErrorCode];

export class TrainerError extends Error {
  readonly code: TrainerErrorCode;

  constructor(code: TrainerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TrainerError';
    this.code = code;
  }
}
