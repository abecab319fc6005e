/**
 * The webhooks API (admins): where the organisation's alert changes are `POST`ed, and each
 * webhook's deliveries. Typed by `schema.d.ts`, generated from the OpenAPI document.
 */
import { qs, send, type Schemas } from './client';
import type { paths } from './schema';

export type Webhook = Schemas['WebhookResponse'];
/** A new webhook's fields with its signing secret (`whsec_…`), which only this answer shows. */
export type CreatedWebhook = Schemas['CreatedWebhookResponse'];
export type NewWebhook = Schemas['CreateWebhookRequest'];
export type WebhookPatch = Schemas['UpdateWebhookRequest'];
export type WebhookList = Schemas['WebhookList'];
export type Delivery = Schemas['DeliveryResponse'];
export type DeliveryList = Schemas['DeliveryList'];
export type DeliveryStatus = Delivery['status'];
export type WebhookKind = Webhook['kinds'][number];

export type WebhookQuery = NonNullable<paths['/api/v1/webhooks']['get']['parameters']['query']>;
export type DeliveryQuery = NonNullable<paths['/api/v1/webhooks/{id}/deliveries']['get']['parameters']['query']>;

export const webhooksApi = {
  /** In creation order; an organisation has at most 20, so `limit: 100` is every one. */
  list: (query: WebhookQuery = {}) => send<WebhookList>('GET', `/webhooks${qs(query)}`).then((r) => r.body),
  create: (hook: NewWebhook) => send<CreatedWebhook>('POST', '/webhooks', { body: hook }).then((r) => r.body),
  /** `version` is sent as `If-Match`: a webhook changed meanwhile answers 412. */
  update: (id: string, version: number, patch: WebhookPatch) =>
    send<Webhook>('PATCH', `/webhooks/${id}`, { body: patch, headers: { 'if-match': `"${version}"` } }).then((r) => r.body),
  delete: (id: string) => send<void>('DELETE', `/webhooks/${id}`).then(() => undefined),
  /** Newest first. */
  deliveries: (id: string, query: DeliveryQuery = {}) =>
    send<DeliveryList>('GET', `/webhooks/${id}/deliveries${qs(query)}`).then((r) => r.body),
};
