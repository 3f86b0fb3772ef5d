import { createTemplateRenderer } from '/work/main/src/render/renderer.js'
import { SAMPLES, sampleInput } from '/work/main/src/render/samples.js'
const r = createTemplateRenderer(); await r.init()
const inputs = Array.from({length: 3000}, (_, i) => ({ ...sampleInput(SAMPLES[i%3]!, (['reminder','reassurance','last-chance'] as const)[i%3]!, i%2===0?'fr':'en'), customer: { firstName: `Client ${i}` } }))
for (let k=0;k<3;k++){ const t=performance.now(); for (const x of inputs) await r.render(x); console.log(((performance.now()-t)/inputs.length*1000).toFixed(1),'us') }
const unit = r.compiled.get('reminder/fr')!
const ctx = r.context(inputs[0]!)
let t=performance.now(); for (let i=0;i<20000;i++) r.context(inputs[i%3000]!); console.log('context', ((performance.now()-t)/20).toFixed(2),'us')
const opts = { allowProtoPropertiesByDefault:false, allowProtoMethodsByDefault:false, data:{subject:'x',preheader:'y'} }
t=performance.now(); for (let i=0;i<20000;i++) unit.html(ctx, opts); console.log('html', ((performance.now()-t)/20).toFixed(2),'us', unit.html(ctx,opts).length)
t=performance.now(); for (let i=0;i<20000;i++) unit.text(ctx, opts); console.log('text', ((performance.now()-t)/20).toFixed(2),'us')
const txt = unit.text(ctx, opts)
const { tidyText } = await import('/work/main/src/render/compile.js')
t=performance.now(); for (let i=0;i<20000;i++) tidyText(txt); console.log('tidy', ((performance.now()-t)/20).toFixed(2),'us')
t=performance.now(); for (let i=0;i<20000;i++) unit.subject(ctx, opts); console.log('subject', ((performance.now()-t)/20).toFixed(2),'us')
