const file = process.argv[2]!;
const b = (await import(file)).default;
for await (const m of b.run()) console.log(JSON.stringify(m));
