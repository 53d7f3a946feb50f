/** Stable error codes of @hitl/service-kit. */
export const ServiceKitErrorCode = {
  config: 'HITL_ERR_CONFIG',
  healthServerNotListening: 'HITL_ERR_HEALTH_NOT_LISTENING',
} as const;
