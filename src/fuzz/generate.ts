/**
 * One exec's input from (seed, index): a fresh structure-aware exchange most of the time, or a
 * mutation of a corpus entry. Server-side execs pair the benign client with a hostile answer.
 */
import { Corpus } from './corpus.ts';
import { DatasetPool } from './dataset.ts';
import { type DicomDictionary, DicomGenerator } from './dicom-generator.ts';
import type { Exchange, Protocol, Side } from './exchange.ts';
import { havoc, mutateStream } from './havoc.ts';
import { type Hl7Dictionary, Hl7Generator } from './hl7-generator.ts';
import { Rng, execRng } from './prng.ts';

export interface ExecInput {
  index: number;
  /** What the fuzzer's client sends (hostile on the client side, benign on the server side). */
  client: Exchange;
  /** Server side: what the instrumented backend answers with. */
  server?: Exchange;
}

export interface GeneratorOptions {
  protocol: Protocol;
  seed: number;
  sides: Side[];
  dicom?: DicomDictionary;
  hl7?: Hl7Dictionary;
}

export class InputGenerator {
  private readonly dicom: DicomGenerator;
  private readonly hl7: Hl7Generator;

  constructor(private readonly opts: GeneratorOptions, private readonly corpus = new Corpus()) {
    this.dicom = new DicomGenerator(new DatasetPool(new Rng(opts.seed ^ 0xd1c0)), opts.dicom);
    this.hl7 = new Hl7Generator(opts.hl7);
  }

  get corpusEntries(): Corpus {
    return this.corpus;
  }

  generate(index: number): ExecInput {
    const rng = execRng(this.opts.seed, index);
    const side = this.opts.sides.length === 1 ? this.opts.sides[0] : rng.pick(this.opts.sides);
    const gen = this.opts.protocol === 'dicom' ? this.dicom : this.hl7;
    if (side === 'server') return { index, client: gen.benignClient(), server: gen.server(rng) };
    const fromCorpus = this.corpus.entries.filter((e) => e.side === 'client');
    if (fromCorpus.length > 0 && rng.chance(0.2)) {
      const base = rng.pick(fromCorpus);
      let chunks = base.chunks;
      if (rng.chance(0.5)) chunks = mutateStream(rng, chunks).chunks;
      else if (chunks.length > 0) {
        const i = rng.int(chunks.length);
        chunks = chunks.map((c, j) => (j === i ? havoc(rng, c) : c));
      }
      return { index, client: { ...base, chunks, label: `${base.label} +corpus` } };
    }
    return { index, client: gen.client(rng) };
  }
}
