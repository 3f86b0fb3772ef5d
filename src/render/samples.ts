/**
 * Realistic sample emails for startup validation, `relance check` and `relance preview`: short
 * and long carts, long names, accents, with and without first name and incentive.
 */
import type { RenderInput, RenderItem, RenderShop } from './types.js'

export const SAMPLE_SHOP: RenderShop = {
  name: 'Maison Dupont', url: 'https://shop.example', fromAddress: 'bonjour@shop.example', replyTo: 'service@shop.example',
  locale: 'fr', timeZone: 'Europe/Paris', currency: 'EUR', logoUrl: 'https://placehold.co/280x80/png?text=Maison+Dupont',
  address: '12 rue des Lilas, 75011 Paris', phone: '+33 1 23 45 67 89', supportUrl: 'https://shop.example/aide',
}

const PRODUCTS: RenderItem[] = [
  { sku: 'LIN-M', name: 'Chemise en lin lavé', quantity: 2, unitAmount: 4990, imageUrl: 'https://placehold.co/128/png?text=Lin', url: 'https://shop.example/p/lin', variant: 'Bleu ciel, M' },
  { sku: 'CAP', name: 'Casquette brodée « Été »', quantity: 1, unitAmount: 1990, imageUrl: 'https://placehold.co/128/png?text=Cap', url: 'https://shop.example/p/cap' },
  { sku: 'SAC-XL', name: 'Grand sac cabas en toile de coton biologique, anses en cuir végétal tanné à la main — édition limitée', quantity: 1, unitAmount: 8900, url: 'https://shop.example/p/sac' },
]

export function manyItems(count: number): RenderItem[] {
  return Array.from({ length: count }, (_, i) => ({
    sku: `SKU-${i}`, name: `Article n° ${i + 1} — pièce unique façonnée à la main`, quantity: 1 + (i % 3), unitAmount: 1000 + i * 37,
    imageUrl: `https://placehold.co/128/png?text=${i + 1}`, url: `https://shop.example/p/${i + 1}`,
  }))
}

export interface Sample {
  id: string
  label: string
  input: Omit<RenderInput, 'template' | 'locale' | 'step'>
}

const base = {
  shop: SAMPLE_SHOP,
  restoreUrl: 'https://shop.example/panier/restaurer?token=SAMPLE-RESTORE-TOKEN',
  unsubscribeUrl: 'https://shop.example/relance/unsubscribe?token=SAMPLE-UNSUBSCRIBE-TOKEN',
  variant: null,
  timeZone: 'Europe/Paris',
  now: new Date('2026-06-10T10:00:00Z'),
}

export const SAMPLES: Sample[] = [
  { id: 'one-item', label: '1 item, first name', input: { ...base, customer: { firstName: 'Camille' }, cart: { id: 's1', currency: 'EUR', items: [PRODUCTS[0]!] }, incentive: null } },
  { id: 'three-items', label: '3 items, long name, no first name', input: { ...base, customer: { firstName: null }, cart: { id: 's3', currency: 'EUR', items: PRODUCTS }, incentive: null } },
  { id: 'incentive', label: '3 items, 10 % code', input: { ...base, customer: { firstName: 'Zoé' }, cart: { id: 's4', currency: 'EUR', items: PRODUCTS }, incentive: { kind: 'percent', value: 10, code: 'MERCI-7QX2', expiresAt: new Date('2026-06-17T21:59:00Z') } } },
  { id: 'sixty-items', label: '60 items', input: { ...base, customer: { firstName: 'Anaïs-Éléonore' }, cart: { id: 's60', currency: 'EUR', items: manyItems(60) }, incentive: { kind: 'free-shipping', value: 0, code: 'LIVRAISON', expiresAt: null } } },
]

/** A sample as a full render input for a template, locale and step. */
export function sampleInput(sample: Sample, template: string, locale: string, step = { id: template, index: 0, count: 3 }): RenderInput {
  return { ...sample.input, template, locale, step }
}
