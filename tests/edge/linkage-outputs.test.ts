import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { checkOutputDevices } from '../../edge/linkage/output-devices.js';
import { formatProblem, loadRuleSources, RuleFileError } from '../../edge/rule-loader.js';
import { Acquisition } from '../../gateway/acquisition/index.js';

/** Rule file outputs name devices of the gateway config (issue 12 property 7). */
function problemsOf(load: () => unknown): string[] {
  try {
    load();
  } catch (err) {
    if (err instanceof RuleFileError) return err.problems.map(formatProblem);
    throw err;
  }
  throw new Error('expected a RuleFileError');
}

const withOutputs = (outputs: string) => `version: 1
outputs:
${outputs}rules:
  - id: GT-101-gas
    sensor: GT-101
    type: gas
    gas: methane
    measure: LEL
    level1: 20
    level2: 40
    deadband: 2
    actions:
      - { on: raised, output: ventilation, coil: 0, value: true }
`;

describe('rule file outputs', () => {
  it('name a gateway device, and keep their position for later checks', () => {
    const ruleSet = loadRuleSources([
      {
        file: 'r.yaml',
        text: withOutputs('  - { id: ventilation, device: gas-controller-1 }\n'),
      },
    ]);
    expect(ruleSet.outputs).toEqual([
      {
        id: 'ventilation',
        device: 'gas-controller-1',
        file: 'r.yaml',
        index: 0,
        line: 3,
        col: 32,
      },
    ]);
  });

  it('written the old way (host and port) are refused with one problem naming the key to write instead', () => {
    const text = withOutputs(
      '  - { id: ventilation, host: 10.0.0.20, port: 502, unitId: 1, timeoutMs: 500 }\n',
    );
    expect(problemsOf(() => loadRuleSources([{ file: 'r.yaml', text }]))).toEqual([
      "r.yaml:3:24 outputs[0].host: host, port, unitId, timeoutMs are no longer written in rule files: the gateway's acquisition owns each device's connection; write `device: <device id from the gateway config>` instead (rules/README.md, Local linkage)",
      // The action's output is unknown, since its output was refused: reported in the same run.
      "r.yaml:14:31 rules[0].actions[0].output: unknown output 'ventilation' (outputs: none)",
    ]);
  });

  it('with one id twice are refused, across files', () => {
    const output = '  - { id: ventilation, device: gas-controller-1 }\n';
    const second = withOutputs(output).replace('GT-101-gas', 'GT-101-gas-2');
    expect(
      problemsOf(() =>
        loadRuleSources([
          { file: 'a.yaml', text: withOutputs(output) },
          { file: 'b.yaml', text: second },
        ]),
      ),
    ).toEqual(["b.yaml:3:11 outputs[0].id: duplicate output id 'ventilation' (first at a.yaml:3)"]);
  });
});

describe('checkOutputDevices', () => {
  const ruleSet = loadRuleSources([
    {
      file: 'r.yaml',
      text: withOutputs(
        '  - { id: ventilation, device: gas-controller-9 }\n  - { id: tank-valve, device: tank-1 }\n',
      ),
    },
  ]);

  it('names an output whose device is not in the gateway config, with file, line and key path', () => {
    expect(checkOutputDevices(ruleSet, ['gas-controller-1', 'tank-1']).map(formatProblem)).toEqual([
      "r.yaml:3:32 outputs[0].device: device 'gas-controller-9' is not in the gateway config (devices: gas-controller-1, tank-1)",
    ]);
  });

  it('with the acquisition, also names a device that takes no writes (no Modbus writer)', () => {
    // An acquisition without the device's Modbus source has no writer for it, as for OPC UA.
    const acquisition = new Acquisition([], () => {}, { clock: new ManualClock() });
    expect(
      checkOutputDevices(ruleSet, ['gas-controller-9', 'tank-1'], acquisition).map(formatProblem),
    ).toEqual([
      "r.yaml:3:32 outputs[0].device: device 'gas-controller-9' takes no writes (only Modbus devices drive linkage outputs)",
      "r.yaml:4:31 outputs[1].device: device 'tank-1' takes no writes (only Modbus devices drive linkage outputs)",
    ]);
  });

  it('runs inside the loader with the outputDevices option, so a start or reload is refused with every other problem', () => {
    const text = withOutputs('  - { id: ventilation, device: gas-controller-9 }\n').replace(
      'level1: 20',
      'level1: 30',
    );
    expect(
      problemsOf(() =>
        loadRuleSources([{ file: 'r.yaml', text }], {
          outputDevices: { ids: ['gas-controller-1'] },
        }),
      ),
    ).toEqual([
      "r.yaml:3:32 outputs[0].device: device 'gas-controller-9' is not in the gateway config (devices: gas-controller-1)",
      'r.yaml:10:13 rules[0].level1: level1 30 %LEL is above the 25 %LEL maximum of GB/T 50493-2019 §5.5.3 item 1 (add a justification to deviate)',
    ]);
  });
});
